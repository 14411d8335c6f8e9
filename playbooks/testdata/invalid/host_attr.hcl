step "command" "x" {
  cmd = host.ip # ERROR: Unsupported attribute of host
}
