package main

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestEveryFlagHasAnEnvironmentVariable walks every command: each flag can
// also be set through an SMCFLEET_* variable, and each command's help shows
// an example.
func TestEveryFlagHasAnEnvironmentVariable(t *testing.T) {
	app := newApp(&streams{})
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			name := strings.TrimSpace(path + " " + c.Name)
			if c.Hidden {
				continue
			}
			if len(c.Subcommands) == 0 && !strings.Contains(c.Description, "Example") {
				t.Errorf("%s: got no example in its help, want one", name)
			}
			for _, f := range c.Flags {
				ef, ok := f.(interface{ GetEnvVars() []string })
				if !ok {
					t.Errorf("%s --%s: flag type without environment variables", name, f.Names()[0])
					continue
				}
				found := false
				for _, e := range ef.GetEnvVars() {
					found = found || strings.HasPrefix(e, "SMCFLEET_")
				}
				if !found {
					t.Errorf("%s --%s: got env %v, want an SMCFLEET_* variable", name, f.Names()[0], ef.GetEnvVars())
				}
			}
			walk(name, c.Subcommands)
		}
	}
	walk("", app.Commands)
}
