step "file" "x" { # ERROR: Missing required argument
  path = "/etc/x"
}
