host "smc-01" {
  host_keys = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXXS/Fs5qmUbXARN5KjNKZmRaORuswKe2Lbe9tdFJoP",
    "ssh-ed25519 AAAA...", # ERROR: Invalid host key
    "SHA256:tooshort",     # ERROR: Invalid host key
  ]
}
