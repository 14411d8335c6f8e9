# The example from the design brief, with real keys.
defaults {
  user           = "root"
  port           = 22
  identity_files = ["~/.ssh/id_ed25519"]
  ssh_agent      = true
  known_hosts    = "~/.ssh/known_hosts"
  vars           = { region = "us-east-1" }
  api {
    username = "smcfleet-api"
    password = env("SMC_API_PASSWORD")
    ca_file  = "ca.pem"
  }
}

group "east" {
  vars = { region = "us-east-2" }
  jump = ["bastion"]
}

host "bastion" {
  address = "10.0.0.1"
}

host "smc-01" {
  address   = "10.0.0.11"
  groups    = ["east"]
  host_keys = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXXS/Fs5qmUbXARN5KjNKZmRaORuswKe2Lbe9tdFJoP smc-01",
    "SHA256:nP1Wb13j5KgnoFl91BSZ/aP18yd0IIEbRczss4r0eGs",
  ]
  vars = { from_email = "alerts@example.com" }
  api {
    url                = "https://10.0.0.11"
    fingerprint_sha256 = "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89"
  }
}
