package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/smcfleet/smcfleet/playbooks"
	"github.com/smcfleet/smcfleet/runner"
)

func playbooksCommand(s *streams) *cli.Command {
	return &cli.Command{
		Name:  "playbooks",
		Usage: "the playbooks bundled in smcfleet: list, show, export",
		Subcommands: []*cli.Command{{
			Name:  "list",
			Usage: "list the bundled playbooks",
			Description: `Bundled playbooks run by name: smcfleet plan -i inventory.hcl ses-smtp

Example:
   smcfleet playbooks list`,
			Action: func(c *cli.Context) error {
				tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tDESCRIPTION")
				opts := playbooks.Options{Kinds: runner.DefaultKinds().Schemas()}
				for _, n := range playbooks.BundledNames() {
					fmt.Fprintf(tw, "%s\t%s\n", n, playbooks.BundledDescription(n, opts))
				}
				return tw.Flush()
			},
		}, {
			Name:      "show",
			Usage:     "print a bundled playbook's source",
			ArgsUsage: "NAME",
			Description: `Example:
   smcfleet playbooks show ses-smtp`,
			Action: func(c *cli.Context) error {
				files, err := playbooks.BundledFiles(c.Args().First())
				if err != nil {
					return exitWith(exitFailed, "%v", err)
				}
				for _, name := range sortedNames(files) {
					if len(files) > 1 {
						fmt.Fprintf(s.out, "# --- %s ---\n", name)
					}
					s.out.Write(files[name])
				}
				return nil
			},
		}, {
			Name:      "export",
			Usage:     "write a bundled playbook's files into DIR, to read or adapt",
			ArgsUsage: "NAME DIR",
			Description: `Existing files are never overwritten.

Example:
   smcfleet playbooks export ses-smtp ./my-ses-smtp`,
			Action: func(c *cli.Context) error {
				if c.NArg() != 2 {
					return exitWith(exitFailed, "give NAME and DIR")
				}
				files, err := playbooks.BundledFiles(c.Args().Get(0))
				if err != nil {
					return exitWith(exitFailed, "%v", err)
				}
				dir := c.Args().Get(1)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return exitWith(exitFailed, "%v", err)
				}
				for _, name := range sortedNames(files) {
					p := filepath.Join(dir, name)
					f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
					if err != nil {
						return exitWith(exitFailed, "%v (nothing is overwritten)", err)
					}
					_, err = f.Write(files[name])
					if cerr := f.Close(); err == nil {
						err = cerr
					}
					if err != nil {
						return exitWith(exitFailed, "%v", err)
					}
					fmt.Fprintln(s.out, p)
				}
				return nil
			},
		}},
	}
}

func sortedNames(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
