defaults {
  user = "root"
}

defaults { # ERROR: Duplicate defaults block
  user = "admin"
}

host "smc-01" {
  api {
    username = "a"
  }
  api { # ERROR: Duplicate api block
    username = "b"
  }
}
