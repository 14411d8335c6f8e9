host "smc-01" {
  api {
    fingerprint_sha256 = "AB:CD:..." # ERROR: Invalid fingerprint
  }
}

host "smc-02" {
  api {
    fingerprint_sha256 = "ZZ:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89" # ERROR: Invalid fingerprint
  }
}

host "smc-03" {
  api {
    url = "http://10.0.0.3" # ERROR: Invalid api URL
  }
}
