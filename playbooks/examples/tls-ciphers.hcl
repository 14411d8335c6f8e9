# The appendix of Cisco's "Configure SMTP Server to use AWS SES" procedure,
# done safely: rewrite the Manager's TLS cipher list without DHE/EDH suites,
# keep the FIRST original as a backup (a second run never overwrites it),
# write atomically, and restart sw-response-mgmt only when the file changed.

playbook {
  description = "Remove DHE/EDH suites from the Manager's tls-ciphers and restart sw-response-mgmt if it changed"
}

variable "ciphers" {
  type        = list(string)
  description = "The cipher list to write, in order (the procedure's ECDHE-only list)."
  default = [
    "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_256_GCM_SHA384",
    "TLS_AES_128_CCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305", "AES256-GCM-SHA384",
  ]
  validation {
    condition     = length([for c in var.ciphers : c if can(regex("(^|-)(DHE|EDH)-", c))]) == 0
    error_message = "The cipher list must not contain DHE or EDH suites: they are what AWS answers with a 1024-bit DH key."
  }
}

variable "ciphers_path" {
  type    = string
  default = "/lancope/services/swos-compliance/security/tls-ciphers"
}

variable "container" {
  type    = string
  default = "sw-response-mgmt"
}

step "file" "tls_ciphers" {
  description = "ECDHE-only cipher list, first original kept in tls-ciphers.bak"
  path        = var.ciphers_path
  content     = "${join(":", var.ciphers)}\n"
  backup      = true
  notify      = ["restart_response_mgmt"]
}

handler "command" "restart_response_mgmt" {
  description = "Reload the cipher list"
  cmd         = "docker restart ${var.container}"
}
