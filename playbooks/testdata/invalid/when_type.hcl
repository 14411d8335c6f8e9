step "command" "x" {
  cmd  = "true"
  when = "yes please" # ERROR: Invalid when condition
}
