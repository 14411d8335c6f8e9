locals {
  a = local.b # ERROR: Cycle in local values
  b = local.a # ERROR: Cycle in local values
}

step "command" "x" {
  cmd = "true"
}
