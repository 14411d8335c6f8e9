// Command smcfleet plans and applies HCL playbooks on fleets of Cisco
// Secure Network Analytics Managers over SSH, SFTP and HTTPS.
package main

import "os"

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
