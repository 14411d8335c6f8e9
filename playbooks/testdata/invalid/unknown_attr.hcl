step "command" "x" {
  cmd     = "true"
  creates = "/x"
  cwd     = "/tmp" # ERROR: Unsupported argument
}
