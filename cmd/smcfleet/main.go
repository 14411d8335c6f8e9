// Command smcfleet plans and applies HCL playbooks on fleets of Cisco
// Secure Network Analytics Managers over SSH, SFTP and HTTPS.
package main

import (
	"os"
	// Log timestamps may name a zone (log_scan timezone); machines without
	// zoneinfo still resolve it.
	_ "time/tzdata"
)

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
