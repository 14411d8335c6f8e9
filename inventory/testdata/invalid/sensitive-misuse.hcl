host "smc-01" {
  port = tonumber(env("SMC_PORT")) # ERROR: Sensitive value not allowed
  jump = [env("SMC_JUMP")]         # ERROR: Sensitive value not allowed
}

host "smc-02" {
  port = tonumber(nonsensitive(env("SMC_PORT")))
}
