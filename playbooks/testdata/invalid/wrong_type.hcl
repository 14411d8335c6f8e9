step "file" "x" {
  path    = "/etc/x"
  content = "y"
  backup  = "sometimes" # ERROR: Incorrect attribute value type
}
