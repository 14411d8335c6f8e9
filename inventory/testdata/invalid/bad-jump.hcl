host "bastion" {}

host "smc-01" {
  jump = ["bastoin"] # ERROR: Unknown jump host
}

host "smc-02" {
  jump = ["bastion", "ops@jump.example.com:99999"] # ERROR: Invalid jump host
}

host "smc-03" {
  jump = ["-oProxyCommand=x.sh"] # ERROR: Invalid jump host
}

group "east" {
  jump = ["@jump.example.com"] # ERROR: Invalid jump host
}
