package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/urfave/cli/v2"

	"github.com/smcfleet/smcfleet/inventory"
	"github.com/smcfleet/smcfleet/playbooks"
	"github.com/smcfleet/smcfleet/runner"
)

// loaded is everything a run needs, checked before any host is contacted.
type loaded struct {
	inv      *inventory.Inventory
	hosts    []*inventory.Host
	pb       *playbooks.Playbook
	kinds    runner.Registry
	targets  []runner.Target
	warnings hcl.Diagnostics
}

// diagPrinter renders diagnostics with file:line:col and a source snippet.
type diagPrinter struct {
	w     io.Writer
	files map[string]*hcl.File
	color bool
}

func newDiagPrinter(w io.Writer, color bool) *diagPrinter {
	return &diagPrinter{w: w, files: map[string]*hcl.File{}, color: color}
}

func (d *diagPrinter) addFiles(files map[string]*hcl.File) {
	for k, v := range files {
		d.files[k] = v
	}
}

func (d *diagPrinter) print(diags hcl.Diagnostics) {
	writeDiagnostics(d.w, d.files, diags, d.color)
}

// loadPlaybook loads and checks a playbook, from a path or, when no such
// file exists, a bundled playbook of that name; it touches no host.
func loadPlaybook(path string, kinds runner.Registry) (*playbooks.Playbook, hcl.Diagnostics) {
	opts := playbooks.Options{Kinds: kinds.Schemas()}
	if _, err := os.Stat(path); err != nil && playbooks.IsBundled(path) {
		return playbooks.LoadFS(playbooks.Bundled, path, opts)
	}
	pb, diags := playbooks.Load(path, opts)
	if pb == nil && !strings.ContainsAny(path, "/.") {
		for _, d := range diags {
			d.Detail += fmt.Sprintf(" No bundled playbook has that name either; bundled: %s (smcfleet playbooks list).", strings.Join(playbooks.BundledNames(), ", "))
		}
	}
	return pb, diags
}

// loadAll loads the inventory, selects hosts, loads the playbook and
// resolves every variable for every host. Errors are printed here, all at
// once; nothing is contacted while any stands.
func loadAll(c *cli.Context, s *streams, dp *diagPrinter) (*loaded, error) {
	if c.NArg() != 1 {
		return nil, exitWith(exitFailed, "give exactly one PLAYBOOK (a .hcl file or a directory of them); see --help")
	}
	return loadWith(c, dp, func(kinds runner.Registry) (*playbooks.Playbook, hcl.Diagnostics) {
		return loadPlaybook(c.Args().First(), kinds)
	})
}

// loadWith is loadAll with the playbook coming from load (a file, or one
// that a command such as "certs fetch" builds).
func loadWith(c *cli.Context, dp *diagPrinter, load func(runner.Registry) (*playbooks.Playbook, hcl.Diagnostics)) (*loaded, error) {
	l := &loaded{kinds: runner.DefaultKinds()}
	var diags hcl.Diagnostics

	inv, d := inventory.Load(c.String("inventory"), inventory.LoadOptions{})
	diags = append(diags, d...)
	if inv != nil {
		dp.addFiles(inv.Files)
	}
	pb, d := load(l.kinds)
	diags = append(diags, d...)
	if pb != nil {
		dp.addFiles(pb.Files)
	}
	if diags.HasErrors() {
		dp.print(diags)
		return nil, codeOnly(exitFailed)
	}
	l.inv, l.pb = inv, pb

	hosts, err := inv.Select(c.String("limit"))
	if err != nil {
		dp.print(diags)
		return nil, exitWith(exitFailed, "%v", err)
	}
	l.hosts = hosts

	vs, d := pb.PrepareVars(playbooks.VarInputs{
		Assignments: c.StringSlice("var"),
		Files:       c.StringSlice("var-file"),
	})
	dp.addFiles(vs.Files)
	diags = append(diags, d...)
	if !d.HasErrors() {
		var hostDiags hcl.Diagnostics
		for _, h := range hosts {
			vals, _, d := vs.ForHost(h.Name, h.Vars)
			hostDiags = append(hostDiags, d...)
			info := playbooks.HostInfo{Name: h.Name, Address: h.Address, Groups: h.Groups, Vars: h.Vars}
			// Asserts run even when a variable is missing or invalid (it is
			// then unknown), so that every problem shows at once.
			hostDiags = append(hostDiags, pb.CheckAsserts(info, pb.WithUnknowns(vals))...)
			l.targets = append(l.targets, runner.Target{
				Name:    h.Name,
				Address: fmt.Sprintf("%s:%d", h.Address, h.Port),
				Info:    info,
				Vars:    vals,
				Secrets: h.Secrets(),
				Data:    h,
			})
		}
		diags = append(diags, playbooks.Dedupe(hostDiags)...)
	}
	if diags.HasErrors() {
		dp.print(diags)
		return nil, codeOnly(exitFailed)
	}
	l.warnings = diags
	return l, nil
}
