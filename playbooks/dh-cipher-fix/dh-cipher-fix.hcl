# dh-cipher-fix: the appendix of Cisco's SES procedure alone. When the SES
# endpoint offers DHE with a group smaller than 2048 bits (AWS's 1024-bit
# DHE: "SSL routines:tls_process_ske_dhe:dh key too small"), rewrite the
# Manager's tls-ciphers without DHE/EDH suites, keeping the FIRST original in
# tls-ciphers.bak, and restart sw-response-mgmt only when the file changed.

playbook {
  description = "Remove DHE/EDH suites from tls-ciphers when SES offers a weak DH group; restart sw-response-mgmt if it changed"
}

variable "region" {
  type        = string
  description = "SES region; the endpoint is email-smtp.<region>.amazonaws.com"
  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "port" {
  type    = number
  default = 587
  validation {
    condition     = contains([25, 587, 2587, 465, 2465], var.port)
    error_message = "port must be one of SES's SMTP ports: 25, 587, 2587, 465, 2465."
  }
}

variable "force_cipher_fix" {
  type        = bool
  default     = false
  description = "Rewrite tls-ciphers whatever the probe sees"
}

variable "min_dh_bits" {
  type        = number
  default     = 2048
  description = "A DHE group smaller than this triggers the fix"
}

variable "ciphers" {
  type        = list(string)
  description = "The procedure's ECDHE-only cipher list"
  default = [
    "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_256_GCM_SHA384",
    "TLS_AES_128_CCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305", "AES256-GCM-SHA384",
  ]
  validation {
    condition     = length([for c in var.ciphers : c if can(regex("(^|-)(DHE|EDH)-", c))]) == 0
    error_message = "The cipher list must not contain DHE or EDH suites."
  }
}

variable "ciphers_path" {
  type    = string
  default = "/lancope/services/swos-compliance/security/tls-ciphers"
}

step "tls_probe" "probe" {
  description = "Server Temp Key of a DHE-only and of a default handshake, from the Manager"
  endpoint    = "email-smtp.${var.region}.amazonaws.com:${var.port}"
}

step "file" "tls_ciphers" {
  description = "ECDHE-only cipher list; the first original is kept in tls-ciphers.bak"
  when        = var.force_cipher_fix || (step.probe.dhe_offered && step.probe.dh_bits < var.min_dh_bits)
  path        = var.ciphers_path
  content     = "${join(":", var.ciphers)}\n"
  backup      = true
  notify      = ["restart_response_mgmt", "verify_response_mgmt"]
}

handler "command" "restart_response_mgmt" {
  description = "Reload the cipher list"
  cmd         = "mkdir -p /root/smcfleet && date +%s > /root/smcfleet/response-mgmt-restart && docker restart sw-response-mgmt"
}

handler "command" "verify_response_mgmt" {
  description = "sw-response-mgmt runs again, and started after the change"
  cmd         = <<-EOT
    set -e
    running=$(docker inspect -f '{{.State.Running}}' sw-response-mgmt)
    test "$running" = true || { echo "sw-response-mgmt is not running" >&2; exit 1; }
    started=$(date -d "$(docker inspect -f '{{.State.StartedAt}}' sw-response-mgmt)" +%s)
    requested=$(cat /root/smcfleet/response-mgmt-restart)
    test -n "$requested" || { echo "no restart time recorded in /root/smcfleet/response-mgmt-restart" >&2; exit 1; }
    test "$started" -ge "$requested" || { echo "sw-response-mgmt did not restart: started $started, restart requested at $requested" >&2; exit 1; }
    echo "sw-response-mgmt running, started $started"
  EOT
}
