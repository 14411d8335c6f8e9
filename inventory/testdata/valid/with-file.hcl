# file() resolves relative to this file's directory.
defaults {
  user     = "admin"
  password = file("secrets/ssh-password.txt")
  vars = {
    smtp_password = trimspace(file("secrets/ssh-password.txt"))
    plain         = "visible"
  }
}

host "smc-01" {
  address         = "192.0.2.10"
  connect_timeout = "1m30s"
}
