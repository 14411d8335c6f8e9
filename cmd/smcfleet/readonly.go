package main

import (
	"encoding/json"

	"github.com/hashicorp/hcl/v2"
	"github.com/urfave/cli/v2"

	"github.com/smcfleet/smcfleet/playbooks"
	"github.com/smcfleet/smcfleet/runner"
)

// readOnlyRun runs a playbook of read-only steps (certs, diagnose) on the
// selected hosts: a plan is the whole run, since such steps' outputs are
// final after their check, and nothing is written anywhere.
func readOnlyRun(c *cli.Context, s *streams, load func(runner.Registry) (*playbooks.Playbook, hcl.Diagnostics)) (*runner.Report, error) {
	dp := newDiagPrinter(s.err, useColor(c, s, s.err))
	l, err := loadWith(c, dp, load)
	if err != nil {
		return nil, err
	}
	ctx, stop := interruptible(s)
	defer stop()
	opts, closePool, err := runOptions(c, l)
	if err != nil {
		return nil, err
	}
	defer closePool()
	opts.Mode = runner.ModePlan
	return runner.Run(ctx, opts), nil
}

// showView prints a read-only command's view, as JSON with --json or as
// text, and maps the run to an exit code.
func showView(c *cli.Context, s *streams, rep *runner.Report, view any, text func()) error {
	if c.Bool("json") {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(view); err != nil {
			return err
		}
	} else {
		text()
	}
	if rep.Interrupted {
		return codeOnly(exitInterrupted)
	}
	if rep.Summary.Failed > 0 || rep.Summary.Unreachable > 0 {
		return codeOnly(exitFailed)
	}
	return nil
}
