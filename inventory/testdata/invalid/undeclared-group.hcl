group "east" {}

host "smc-01" {
  groups = ["east", "west"] # ERROR: Undeclared group
}

host "smc-02" {
  groups = [
    "east",
    "east", # ERROR: Duplicate group
  ]
}
