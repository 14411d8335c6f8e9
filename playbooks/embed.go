package playbooks

import "embed"

// Examples are the example playbooks shipped in the binary (the demo runs
// them).
//
//go:embed examples/*.hcl
var Examples embed.FS
