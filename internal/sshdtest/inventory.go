package sshdtest

import (
	"fmt"
	"strings"
)

// InventoryHCL returns an smcfleet inventory for the fleet: one host block
// per host, logging in as root with ClientKeyFile, trusting only the
// host's pinned key, and with vars = { lancope_root = "/lancope" }.
func (f *Fleet) InventoryHCL() string {
	var b strings.Builder
	b.WriteString("# Written by internal/sshdtest for a fleet of local sshd processes.\n")
	for _, h := range f.Hosts {
		fmt.Fprintf(&b, `
host %s {
  address        = %s
  port           = %d
  user           = "root"
  identity_files = [%s]
  ssh_agent      = false
  host_keys      = [%s]
  vars           = { lancope_root = %s }
}
`, hclString(h.Name), hclString(h.Addr), h.Port, hclString(f.ClientKeyFile),
			hclString(h.HostKeyLine), hclString(lancopeMount))
	}
	return b.String()
}

// hclString quotes s as an HCL string literal with no interpolation.
func hclString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "${", "$${", "%{", "%%{")
	return `"` + r.Replace(s) + `"`
}
