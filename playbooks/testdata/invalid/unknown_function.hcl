step "command" "x" {
  cmd = uppercase("true") # ERROR: Call to unknown function
}
