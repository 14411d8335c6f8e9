step "command" "hello" {
  cmd = "true"
}
