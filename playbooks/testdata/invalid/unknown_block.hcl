stepp "command" "x" { # ERROR: Unsupported block type
  cmd = "true"
}
