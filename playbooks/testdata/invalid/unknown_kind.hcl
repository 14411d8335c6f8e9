step "comand" "x" { # ERROR: Unknown step kind
  cmd = "true"
}
