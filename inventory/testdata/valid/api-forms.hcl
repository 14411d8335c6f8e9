# api defaults its url to https://<address>; fingerprints without colons.
defaults {
  api {
    username = "api"
    password = env("SMC_API_PASSWORD")
  }
}

host "smc-v6" {
  address = "2001:db8::5"
}

host "smc-pinned" {
  api {
    fingerprint_sha256 = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"
  }
}

host "smc-lab" {
  api {
    insecure = true
  }
}

host "smc-nullport" {
  port = null
}
