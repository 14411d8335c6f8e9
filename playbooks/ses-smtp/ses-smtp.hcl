# ses-smtp: Cisco's "Configure SMTP Server to use AWS SES" procedure for SNA
# Managers, end to end, on every Manager of the inventory:
#
#   1. fetch the SES certificate chain from the Manager and pull it over SFTP;
#   2. put the chain into the Manager's trust store (through the API);
#   3. set the SMTP settings (through the API; opt-in: configure_smtp);
#   4. probe whether SES offers DHE to this Manager;
#   5. when it does (or with force_cipher_fix), back up and rewrite
#      tls-ciphers with the procedure's ECDHE list;
#   6. restart sw-response-mgmt, only when something changed;
#   7. verify that it runs again and started after the change.
#
# What is left by hand (no public API is known) is printed at the end: the
# Response Management e-mail action and its Test Action.

playbook {
  description = "Send the Managers' notifications through Amazon SES: chain, trust store, SMTP settings, DHE cipher fix, restart"
}

# --- Inputs -----------------------------------------------------------------

variable "region" {
  type        = string
  description = "SES region; the endpoint is email-smtp.<region>.amazonaws.com"
  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "port" {
  type        = number
  default     = 587
  description = "25, 587 or 2587 (STARTTLS); 465 or 2465 (SMTPS)"
  validation {
    condition     = contains([25, 587, 2587, 465, 2465], var.port)
    error_message = "port must be one of SES's SMTP ports: 25, 587, 2587 (STARTTLS) or 465, 2465 (SMTPS)."
  }
}

variable "encryption" {
  type        = string
  default     = ""
  description = "STARTTLS or SMTPS; default: the one that goes with the port"
  validation {
    condition     = contains(["", "STARTTLS", "SMTPS"], var.encryption)
    error_message = "encryption must be STARTTLS or SMTPS."
  }
}

variable "from_email" {
  type        = string
  description = "From address of the notifications: it must be in an SES verified domain"
  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.from_email))
    error_message = "from_email must be an e-mail address."
  }
}

variable "verified_domains" {
  type        = list(string)
  description = "The SES verified domain identities (Configuration > Verified identities)"
}

variable "smtp_user" {
  type        = string
  description = "SES SMTP user name"
}

variable "smtp_password" {
  type        = string
  sensitive   = true
  description = "SES SMTP password (from SMCFLEET_VAR_smtp_password or a var file; never in a command line)"
}

variable "configure_smtp" {
  type        = bool
  default     = false
  description = "Set the SMTP settings through the API. Opt-in: the key names are not publicly documented (see smtp_key_path and smtp_fields; check yours with smcfleet smc config get)."
}

variable "smtp_key_path" {
  type        = string
  default     = "configurableElements.smtp"
  description = "Where the SMTP settings sit in the appliance configuration document"
}

variable "smtp_fields" {
  type = object({
    server     = string
    port       = string
    from_email = string
    user       = string
    password   = string
    encryption = string
  })
  default = {
    server     = "server"
    port       = "port"
    from_email = "fromEmail"
    user       = "userName"
    password   = "password"
    encryption = "encryption"
  }
  description = "The field names of the SMTP settings in the document"
}

variable "force_cipher_fix" {
  type        = bool
  default     = false
  description = "Rewrite tls-ciphers even when the probe sees no DHE offer"
}

variable "ciphers" {
  type        = list(string)
  description = "The procedure's ECDHE-only cipher list, written to tls-ciphers"
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

variable "warn_days" {
  type        = number
  default     = 30
  description = "Warn when a certificate of the chain expires within this many days"
}

variable "fetch_dest" {
  type        = string
  default     = "certs"
  description = "Local directory the chain is pulled into, as <dest>/<host>/..."
}

variable "trust_prefix" {
  type        = string
  default     = "smcfleet-"
  description = "Friendly-name prefix of the trust-store entries smcfleet adds"
}

locals {
  endpoint   = "email-smtp.${var.region}.amazonaws.com"
  encryption = var.encryption != "" ? var.encryption : (contains([465, 2465], var.port) ? "SMTPS" : "STARTTLS")
  from_domain = lower(split("@", var.from_email)[1])
  smtp        = var.smtp_key_path
}

assert "port_matches_encryption" {
  condition     = local.encryption == (contains([465, 2465], var.port) ? "SMTPS" : "STARTTLS")
  error_message = "Ports 25, 587 and 2587 go with STARTTLS, 465 and 2465 with SMTPS (port ${var.port}, encryption ${local.encryption})."
}

assert "from_in_verified_domain" {
  condition     = contains([for d in var.verified_domains : lower(d)], local.from_domain)
  error_message = "from_email ${var.from_email} is not in a verified domain (${join(", ", var.verified_domains)}): SES would answer 554 Message rejected."
}

# --- Steps ------------------------------------------------------------------

step "cert_fetch" "chain" {
  description = "The SES chain as this Manager sees it (openssl on the Manager)"
  endpoint    = "${local.endpoint}:${var.port}"
  warn_days   = var.warn_days
}

step "fetch" "pull" {
  description = "A copy of the chain on the controller"
  from        = step.chain.files
  dest        = var.fetch_dest
}

step "trust_store" "trust" {
  description = "Every certificate SES presents, in the Manager's trust store"
  from        = step.chain.certs
  name_prefix = var.trust_prefix
  notify      = ["restart_response_mgmt", "verify_response_mgmt"]
}

step "smc_config" "smtp" {
  description = "The SMTP settings of Central Management > Edit Appliance Configuration > General"
  when        = var.configure_smtp
  settings = {
    ("${local.smtp}.${var.smtp_fields.server}")     = local.endpoint
    ("${local.smtp}.${var.smtp_fields.port}")       = var.port
    ("${local.smtp}.${var.smtp_fields.from_email}") = var.from_email
    ("${local.smtp}.${var.smtp_fields.user}")       = var.smtp_user
    ("${local.smtp}.${var.smtp_fields.password}")   = var.smtp_password
    ("${local.smtp}.${var.smtp_fields.encryption}") = local.encryption
  }
  notify = ["restart_response_mgmt", "verify_response_mgmt"]
}

step "tls_probe" "probe" {
  description = "Does SES offer DHE to this Manager (the appendix's \"dh key too small\")?"
  endpoint    = "${local.endpoint}:${var.port}"
}

step "file" "tls_ciphers" {
  description = "ECDHE-only cipher list; the first original is kept in tls-ciphers.bak"
  when        = var.force_cipher_fix || step.probe.dhe_offered
  path        = var.ciphers_path
  content     = "${join(":", var.ciphers)}\n"
  backup      = true
  notify      = ["restart_response_mgmt", "verify_response_mgmt"]
}

# --- Handlers ---------------------------------------------------------------

handler "command" "restart_response_mgmt" {
  description = "Reload the trust store, SMTP settings and cipher list"
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

# --- What is left by hand ---------------------------------------------------

output "manual_step" {
  description = "The one step of the procedure that has no known API"
  value       = <<-EOT
    One step is left, by hand, on each Manager (no public API exists for it):
      Configure > Response Management > Actions > Add New Action > Email
        Name:    SES test
        To:      an address in ${join(" or ", var.verified_domains)} (required while SES is in the sandbox)
        Subject: any
      Save, then on the action's row: ... > Edit > Test Action.
    The notifications go out through ${local.endpoint}:${var.port} (${local.encryption}) from ${var.from_email}.
    If the test fails: smcfleet diagnose -i INVENTORY
  EOT
}
