# Jumps without cycles: through inventory hosts and outside machines.
defaults {
  jump = ["bastion-2"]
}

host "bastion-1" {
  address = "198.51.100.1"
  jump    = []
}

host "bastion-2" {
  address = "10.1.0.2"
  jump    = ["bastion-1"]
}

host "smc-01" {
  address = "10.1.0.11"
}

host "smc-02" {
  address = "10.1.0.12"
  jump    = ["ops@jump.example.com:2222", "bastion-2"]
}

host "smc-03" {
  address = "fd00::13"
  jump    = ["[2001:db8::1]:22", "jump.example.com", "10.9.9.9"]
}
