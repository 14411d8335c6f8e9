step "command" "x" {
  cmd = = "true" # ERROR: Invalid expression
}
