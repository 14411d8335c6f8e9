playbook {
  description = "every feature of the language at once"
}

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "SES region"
  validation {
    condition     = can(regex("^[a-z]{2}-[a-z]+-[0-9]$", var.region))
    error_message = "region looks like us-east-1"
  }
}

variable "password" {
  type      = string
  sensitive = true
  default   = "x"
}

variable "ports" {
  type    = list(number)
  default = [587, 2587]
}

locals {
  endpoint = "email-smtp.${var.region}.amazonaws.com"
  dir      = "/root/smcfleet/${local.sub}"
  sub      = lower(host.name)
}

step "command" "probe" {
  description = "look around"
  cmd         = "echo ${local.endpoint}:${var.ports[0]}"
  unless      = "test -e /nonexistent"
  timeout     = "30s"
}

step "file" "ciphers" {
  path    = "${local.dir}/tls-ciphers"
  content = join(":", ["A", "B"])
  mode    = "0644"
  backup  = true
  when    = step.probe.exit_code == 0 && contains(host.groups, "east") || host.vars.force == true
  notify  = ["restart"]
}

step "fetch" "pull" {
  src  = [step.ciphers.path, "/etc/hostname"]
  dest = "fetched"
  flat = true
}

handler "command" "restart" {
  cmd = "docker restart sw-response-mgmt # ${length(step.pull.files)}"
}

assert "ports_are_submission" {
  condition     = length([for p in var.ports : p if !contains([587, 2587], p)]) == 0 || local.endpoint != ""
  error_message = "ports must be submission ports (${join(",", var.ports)})"
}

output "summary" {
  description = "what ran"
  value       = "${host.name}: ${step.probe.exit_code} ${length(step.pull.files)}"
}
