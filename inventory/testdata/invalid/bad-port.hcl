defaults {
  port = 0 # ERROR: Invalid port
}

group "g" {
  port = 70000 # ERROR: Invalid port
}

host "smc-01" {
  port = 22.5 # ERROR: Invalid port
}

host "smc-02" {
  port = -1 # ERROR: Invalid port
}
