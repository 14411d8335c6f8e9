variable "a" {
  default = "x"
  validation {
    condition     = var.b != "" # ERROR: Invalid reference in variable validation
    error_message = "no"
  }
}
