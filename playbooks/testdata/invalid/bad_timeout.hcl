step "command" "x" {
  cmd     = "true"
  timeout = "soon" # ERROR: Invalid timeout
}
