variable "region" {
  type = string
  default = "us-east-1"
}

step "command" "a" {
  cmd = 42
  shell = "bash" # ERROR: Unsupported argument
}

step "file" "b" {
  path    = "/etc/x"
  content = var.nope # ERROR: Reference to undeclared variable
  mode    = step.zz.stdout # ERROR: Reference to undeclared step
}
