defaults {
  connect_timeout = "10" # ERROR: Invalid duration
}

host "smc-01" {
  connect_timeout = "-5s" # ERROR: Invalid duration
}

host "smc-02" {
  connect_timeout = 10 # ERROR: Incorrect attribute value type
}
