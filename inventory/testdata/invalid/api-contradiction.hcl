defaults {
  api {
    ca_file = "ca.pem"
  }
}

host "smc-01" {
  api {
    insecure = true # ERROR: Contradictory api settings
  }
}

host "smc-02" {
  api {
    fingerprint_sha256 = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
    insecure           = true # ERROR: Contradictory api settings
  }
}
