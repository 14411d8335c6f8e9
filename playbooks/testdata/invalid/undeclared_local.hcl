locals {
  a = "1"
}

step "command" "x" {
  cmd = local.b # ERROR: Reference to undeclared local value
}
