step "command" "same" {
  cmd = "true"
}

step "file" "same" { # ERROR: Duplicate step
  path    = "/x"
  content = ""
}
