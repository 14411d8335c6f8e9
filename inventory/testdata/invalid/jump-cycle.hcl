host "a" {
  jump = ["b"]
}

host "b" {
  jump = ["c"]
}

host "c" {
  jump = ["a"] # ERROR: Jump cycle
}
