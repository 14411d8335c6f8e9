variable "port" {
  type    = number
  default = "five" # ERROR: Invalid default value for variable
}
