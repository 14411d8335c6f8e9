step "command" "first" {
  cmd = step.second.stdout # ERROR: Reference to a step that has not run yet
}

step "command" "second" {
  cmd = "true"
}
