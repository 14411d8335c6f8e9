host "smc-01" {
  port           = "ssh"          # ERROR: Incorrect attribute value type
  ssh_agent      = "maybe"        # ERROR: Incorrect attribute value type
  identity_files = "~/.ssh/id"    # ERROR: Incorrect attribute value type
  vars           = "region=east"  # ERROR: Incorrect attribute value type
  host_keys      = [["nested"]]   # ERROR: Incorrect attribute value type
  user           = ["root"]       # ERROR: Incorrect attribute value type
}
