variable "region" {
  type = string
}

step "command" "x" {
  cmd = "echo ${var.regoin}" # ERROR: Reference to undeclared variable
}
