variable "a" {
  default = 1
}

variable "a" { # ERROR: Duplicate variable
  default = 2
}
