package playbooks

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// Bundled holds the playbooks shipped in the binary, one directory each,
// run by name ("smcfleet plan -i INV ses-smtp"). They are written in the
// public playbook language only, so they double as its examples.
//
//go:embed ses-smtp/*.hcl dh-cipher-fix/*.hcl cert-refresh/*.hcl diagnose/*.hcl
var Bundled embed.FS

// BundledNames lists the bundled playbooks.
func BundledNames() []string {
	entries, _ := fs.ReadDir(Bundled, ".")
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// IsBundled reports whether name is a bundled playbook.
func IsBundled(name string) bool {
	for _, n := range BundledNames() {
		if n == name {
			return true
		}
	}
	return false
}

// BundledDescription is the description of a bundled playbook, read from
// its playbook block (without a full load).
func BundledDescription(name string, opts Options) string {
	pb, _ := LoadFS(Bundled, name, opts)
	if pb == nil {
		return ""
	}
	return pb.Description
}

// BundledFiles returns the files of a bundled playbook, by name.
func BundledFiles(name string) (map[string][]byte, error) {
	if !IsBundled(name) {
		return nil, fmt.Errorf("no bundled playbook %q; bundled: %s", name, strings.Join(BundledNames(), ", "))
	}
	entries, err := fs.ReadDir(Bundled, name)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := fs.ReadFile(Bundled, name+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		out[e.Name()] = b
	}
	return out, nil
}
