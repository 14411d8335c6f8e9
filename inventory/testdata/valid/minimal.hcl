# Every setting defaulted: address is the name, port 22, user $USER.
host "smc-01.example.com" {}
