group "east" {}
group "east" {} # ERROR: Duplicate group name

host "smc-01" {}
host "smc-01" {} # ERROR: Duplicate host name

host "east" {} # ERROR: Name used by a host and a group
