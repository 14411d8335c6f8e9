host "smc-01" {
  port = 22 22 # ERROR: Missing newline after argument
}
