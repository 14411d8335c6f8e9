# Later groups in a host's list override earlier ones; the host overrides all.
defaults {
  user = "root"
  vars = { tier = "default", region = "none", site = "default" }
}

group "prod" {
  port = 2201
  vars = { tier = "prod", region = "prod-region" }
}

group "east" {
  port = 2202
  vars = { region = "us-east-2" }
}

host "smc-01" {
  groups = ["prod", "east"]
}

host "smc-02" {
  groups = ["east", "prod"]
  vars   = { site = "dc2" }
}
