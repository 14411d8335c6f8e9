# Same hosts as equivalent.ini (TestINIEquivalentToHCL); groups in the
# order Ansible merges them: parents first, then by name.
defaults {
  user            = "root"
  ssh_agent       = false
  connect_timeout = "7s"
  vars            = { region = "us-east-1" }
}
group "east" {
  vars = { region = "us-east-2" }
}
group "west" {}
group "prod" {
  vars = { tier = "prod" }
}
host "smc-01" {
  groups         = ["prod", "east"]
  identity_files = ["keys/east"]
}
host "smc-02" {
  groups         = ["prod", "east"]
  identity_files = ["keys/east"]
}
host "smc-03" {
  address = "10.0.0.3"
  port    = 2222
  groups  = ["prod", "east", "west"]
  vars    = { site = "DC 1" }
}
host "smc-04" {
  address     = "10.0.1.4"
  user        = "admin"
  known_hosts = "kh"
  groups      = ["prod", "west"]
}
host "lab" {
  address   = "192.0.2.7"
  jump      = ["smc-01"]
  host_keys = [
    "SHA256:nP1Wb13j5KgnoFl91BSZ/aP18yd0IIEbRczss4r0eGs",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXXS/Fs5qmUbXARN5KjNKZmRaORuswKe2Lbe9tdFJoP smc-01",
  ]
}
