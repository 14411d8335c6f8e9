step "command" "x" {
  cmd = "true"
}

assert "early" {
  condition     = step.x.exit_code == 0 # ERROR: Invalid reference
  error_message = "no"
}

output "bad" {
  value = var.nope # ERROR: Reference to undeclared variable
}

assert "fn" {
  condition     = nosuchfn(true) # ERROR: Call to unknown function
  error_message = "no"
}
