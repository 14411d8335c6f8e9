defaults {
  address = "10.0.0.1" # ERROR: Unsupported argument
}

group "east" {
  groups = ["west"] # ERROR: Unsupported argument
}

host "smc-01" {
  adress = "10.0.0.1" # ERROR: Unsupported argument
  api {
    verify = false # ERROR: Unsupported argument
  }
}
