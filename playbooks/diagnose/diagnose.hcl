# diagnose: section 6 of Cisco's SES procedure ("Troubleshooting") as data.
# It reads the tail of sw-response-mgmt's log on every Manager (both
# spellings: the procedure prints "sw-reponse-mgmt.log"), and its rotations,
# and reports each error of the procedure's table that the Response
# Management Test Action logged, with its fix and the smcfleet remedy.
# Anything else that looks like an error is an unknown error: open a TAC
# case. Read-only: run it with "smcfleet diagnose" or "smcfleet plan".

playbook {
  description = "Read sw-response-mgmt's log and name each Test Action error of the procedure's troubleshooting table, with its fix (read-only)"
}

variable "since" {
  type        = string
  default     = ""
  description = "Only errors logged within this duration (\"24h\", \"7d\"); empty: everything in the tail"
  validation {
    condition     = var.since == "" || can(regex("^([0-9]+d|([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$", var.since))
    error_message = "since must be a duration such as \"24h\", \"90m\" or \"7d\"."
  }
}

variable "tail_bytes" {
  type        = number
  default     = 1048576
  description = "Read at most this many bytes from the end of each log file"
  validation {
    condition     = var.tail_bytes >= 1 && var.tail_bytes <= 268435456 && floor(var.tail_bytes) == var.tail_bytes
    error_message = "tail_bytes must be a whole number of bytes from 1 to 268435456 (256 MiB)."
  }
}

step "log_scan" "log" {
  description = "Test Action errors in sw-response-mgmt's log"
  paths = [
    "/lancope/var/logs/containers/sw-reponse-mgmt.log",
    "/lancope/var/logs/containers/sw-response-mgmt.log",
  ]
  rotated    = 3
  tail_bytes = var.tail_bytes
  since      = var.since

  # The procedure's table, in its order. A regex is matched anywhere in
  # the line (Go RE2 syntax); the table quotes fragments of the line.
  patterns = [
    {
      name   = "unverified_identity"
      regex  = "554 Message rejected: Email address is not verified"
      fix    = "set From Email to an address in the SES verified domain"
      remedy = "smcfleet apply -i INV ses-smtp --var from_email=ADDRESS"
    },
    {
      name   = "invalid_credentials"
      regex  = "535 Authentication Credentials Invalid"
      fix    = "create new SES SMTP credentials and redo the SMTP configuration"
      remedy = "smcfleet ses smtp-password, then smcfleet apply -i INV ses-smtp"
    },
    {
      name   = "untrusted_chain"
      regex  = "SunCertPathBuilderException: unable to find valid certification path to requested target"
      fix    = "put every certificate AWS presents into the Manager's trust store"
      remedy = "smcfleet apply -i INV ses-smtp (or cert-refresh)"
    },
    {
      name   = "dh_key_too_small"
      regex  = "tls_process_ske_dhe:dh key too small"
      fix    = "remove DHE/EDH suites from tls-ciphers and restart sw-response-mgmt"
      remedy = "smcfleet apply -i INV dh-cipher-fix"
    },
  ]
  # Anything else: the table's last row.
  unknown_regex = "(?i)(ERROR|Exception)"
  unknown_fix   = "open a TAC case"
}
