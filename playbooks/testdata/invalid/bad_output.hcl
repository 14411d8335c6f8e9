step "command" "first" {
  cmd = "true"
}

step "command" "second" {
  cmd = step.first.output # ERROR: Unsupported step output
}
