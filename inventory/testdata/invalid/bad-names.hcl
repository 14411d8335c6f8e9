host "smc 01" {} # ERROR: Invalid host name

host ".." {} # ERROR: Invalid host name

group "east/west" {} # ERROR: Invalid group name

host "all" {} # ERROR: Reserved host name

host "smc-02" {
  address = "-oProxyCommand=evil" # ERROR: Invalid address
}
