step "command" "x" {
  cmd    = "true"
  notify = ["restrat"] # ERROR: Unknown handler
}

handler "command" "restart" {
  cmd = "true"
}
