host "smc-01" {
  password = env("NOT_SET_ANYWHERE") # ERROR: Error in function call
  user     = var.user                # ERROR: Variables not allowed
}

host "smc-02" {
  identity_files = ["~root/.ssh/id_ed25519"] # ERROR: Invalid path
  known_hosts    = ""                        # ERROR: Invalid path
}
