defaults {
  # bastion inherits this and would jump through itself.
  jump = ["bastion"] # ERROR: Jump cycle
}

host "bastion" {}

host "smc-01" {}
