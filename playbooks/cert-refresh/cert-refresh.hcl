# cert-refresh: for cron. Re-fetch the SES chain from every Manager, add any
# new certificate to the trust store (restarting sw-response-mgmt only then),
# and warn about certificates that expire within warn_days. With --quiet, a
# run that changes nothing prints nothing and exits 0.

playbook {
  description = "Keep the SES chain in every Manager's trust store current (for cron)"
}

variable "region" {
  type = string
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

variable "warn_days" {
  type    = number
  default = 30
}

variable "remove_stale" {
  type        = bool
  default     = false
  description = "Also remove trust-store entries that smcfleet added earlier and SES no longer presents"
}

variable "trust_prefix" {
  type    = string
  default = "smcfleet-"
}

step "cert_fetch" "chain" {
  endpoint  = "email-smtp.${var.region}.amazonaws.com:${var.port}"
  warn_days = var.warn_days
}

step "trust_store" "trust" {
  from         = step.chain.certs
  name_prefix  = var.trust_prefix
  remove_stale = var.remove_stale
  notify       = ["restart_response_mgmt"]
}

handler "command" "restart_response_mgmt" {
  description = "Reload the trust store"
  cmd         = "docker restart sw-response-mgmt"
}
