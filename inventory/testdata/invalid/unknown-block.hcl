hosts "smc-01" { # ERROR: Unsupported block type
  address = "10.0.0.1"
}

host "smc-02" {
  address = "10.0.0.2"
  sudo {} # ERROR: Unsupported block type
}
