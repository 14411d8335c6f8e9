package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/smcfleet/smcfleet/internal/atomicfile"
	"github.com/smcfleet/smcfleet/inventory"
	"github.com/smcfleet/smcfleet/runner"
)

func useColor(c *cli.Context, s *streams, w any) bool {
	return !c.Bool("no-color") && isTerminal(w)
}

func validateCommand(s *streams) *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a playbook (and, with -i, every host's variables) without connecting anywhere",
		ArgsUsage: "PLAYBOOK",
		Description: `Parses and type-checks PLAYBOOK (a .hcl file or a directory of them). With an
inventory it also selects the hosts and resolves every variable for each of
them, so a missing or invalid value is reported now. Every problem is shown
at once, with file:line:col and the source line.

Examples:
   smcfleet validate playbooks/examples/tls-ciphers.hcl
   smcfleet validate -i inventory.hcl --var region=us-east-1 playbooks/examples/
   SMCFLEET_INVENTORY=fleet.hcl smcfleet validate site.hcl`,
		Flags: []cli.Flag{
			inventoryFlag(false), limitFlag,
			&cli.StringSliceFlag{Name: "var", EnvVars: env("VARS"), Usage: "set a playbook variable: `NAME=VALUE`"},
			&cli.StringSliceFlag{Name: "var-file", EnvVars: env("VAR_FILES"), Usage: "read variables from `FILE`"},
			noColorFlag,
		},
		Action: func(c *cli.Context) error {
			dp := newDiagPrinter(s.err, useColor(c, s, s.err))
			if c.String("inventory") == "" {
				if c.NArg() != 1 {
					return exitWith(exitFailed, "give exactly one PLAYBOOK; see --help")
				}
				pb, diags := loadPlaybook(c.Args().First(), runner.DefaultKinds())
				if pb != nil {
					dp.addFiles(pb.Files)
				}
				dp.print(diags)
				if diags.HasErrors() {
					return codeOnly(exitFailed)
				}
				fmt.Fprintf(s.out, "Success: %s is valid (variables: %d, steps: %d, handlers: %d).\n",
					pb.Path, len(pb.Variables), len(pb.Steps), len(pb.Handlers))
				return nil
			}
			l, err := loadAll(c, s, dp)
			if err != nil {
				return err
			}
			dp.print(l.warnings)
			fmt.Fprintf(s.out, "Success: %s is valid (variables: %d, steps: %d, handlers: %d); variables resolved for %d hosts.\n",
				l.pb.Path, len(l.pb.Variables), len(l.pb.Steps), len(l.pb.Handlers), len(l.targets))
			return nil
		},
	}
}

func planCommand(s *streams) *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "show what apply would change on each host, changing nothing",
		ArgsUsage: "PLAYBOOK",
		Description: `Connects to each selected host (one SSH connection each), runs only the
read-only checks of every step, and prints per host what would change:
"+" create, "~" update (with a diff), ">" a command that would run,
"=" unchanged, "/" skipped (with the reason), "?" decided during apply,
and the handlers that would fire. Nothing is changed on any host.

Examples:
   smcfleet plan -i inventory.hcl site.hcl
   smcfleet plan -i inventory.hcl --limit 'smc-*,!smc-lab' --var region=us-east-2 site.hcl
   smcfleet plan -i inventory.hcl --out plan.json --detailed-exitcode site.hcl`,
		Flags: runFlags(),
		Action: func(c *cli.Context) error {
			return runPlanOrApply(c, s, runner.ModePlan)
		},
	}
}

func applyCommand(s *streams) *cli.Command {
	flags := append(runFlags(), &cli.BoolFlag{
		Name: "auto-approve", EnvVars: env("AUTO_APPROVE"),
		Usage: "apply without asking (required when stdin is not a terminal)",
	})
	return &cli.Command{
		Name:      "apply",
		Usage:     "plan, ask for confirmation, then make the changes",
		ArgsUsage: "PLAYBOOK",
		Description: `Shows the plan and asks for confirmation on a terminal, then runs the steps on
up to --forks hosts at once, steps in order on each host. A failed step stops
its host; other hosts go on; handlers already notified still run. A recap
closes the run. Ctrl-C stops cleanly: no new step starts, running commands are
signalled, and the recap still prints.

Unattended (no terminal on stdin) apply is refused unless --auto-approve is
given; with --auto-approve the plan is not shown first: each change is printed,
with its diff, as it is made.

Examples:
   smcfleet apply -i inventory.hcl site.hcl
   smcfleet apply -i inventory.hcl --auto-approve --forks 20 --json site.hcl > report.json`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			return runPlanOrApply(c, s, runner.ModeApply)
		},
	}
}

func inventoryCommand(s *streams) *cli.Command {
	return &cli.Command{
		Name:  "inventory",
		Usage: "inspect an inventory",
		Subcommands: []*cli.Command{{
			Name:  "list",
			Usage: "list the selected hosts with their merged variables (secrets redacted)",
			Description: `Examples:
   smcfleet inventory list -i inventory.hcl
   smcfleet inventory list -i inventory.hcl --limit east --json`,
			Flags: []cli.Flag{inventoryFlag(true), limitFlag, jsonFlag, noColorFlag},
			Action: func(c *cli.Context) error {
				dp := newDiagPrinter(s.err, useColor(c, s, s.err))
				inv, diags := inventory.Load(c.String("inventory"), inventory.LoadOptions{})
				if inv != nil {
					dp.addFiles(inv.Files)
				}
				dp.print(diags)
				if diags.HasErrors() {
					return codeOnly(exitFailed)
				}
				hosts, err := inv.Select(c.String("limit"))
				if err != nil {
					return exitWith(exitFailed, "%v", err)
				}
				return inventory.WriteList(s.out, hosts, c.Bool("json"))
			},
		}},
	}
}

func runPlanOrApply(c *cli.Context, s *streams, mode runner.Mode) error {
	dp := newDiagPrinter(s.err, useColor(c, s, s.err))
	autoApprove := mode == runner.ModeApply && c.Bool("auto-approve")
	interactive := isTerminal(s.in)
	if mode == runner.ModeApply && !autoApprove && !interactive {
		return exitWith(exitFailed, "refusing to apply unattended: stdin is not a terminal. Review the plan with \"smcfleet plan\", then run apply with --auto-approve")
	}
	l, err := loadAll(c, s, dp)
	if err != nil {
		return err
	}
	dp.print(l.warnings)

	ctx, stop := interruptible(s)
	defer stop()

	opts, closePool, err := runOptions(c, l)
	if err != nil {
		return err
	}
	defer closePool()

	asJSON := c.Bool("json")
	color := !asJSON && useColor(c, s, s.out)
	observe := func(m runner.Mode) *runner.Printer {
		if asJSON {
			return nil
		}
		var names []string
		for _, t := range opts.Targets {
			names = append(names, t.Name)
		}
		p := runner.NewPrinter(s.out, m, color, names...)
		p.SetQuiet(c.Bool("quiet"))
		opts.Observer = p
		return p
	}

	var rep *runner.Report
	if mode == runner.ModePlan || !autoApprove {
		opts.Mode = runner.ModePlan
		p := observe(runner.ModePlan)
		rep = runner.Run(ctx, opts)
		if p != nil {
			p.Recap(rep)
		}
	}
	if mode == runner.ModeApply && (rep == nil || !rep.Interrupted) {
		proceed, err := confirmApply(s, rep, autoApprove)
		if err != nil {
			return err
		}
		if proceed {
			opts.Mode = runner.ModeApply
			opts.Targets = plannedTargets(l.targets, rep)
			p := observe(runner.ModeApply)
			applied := runner.Run(ctx, opts)
			rep = mergeReports(rep, applied)
			if p != nil {
				p.Recap(rep)
			}
		}
	}
	if asJSON {
		if err := runner.WriteJSON(s.out, rep); err != nil {
			return err
		}
	}
	if out := c.String("out"); out != "" {
		if err := writeJSONFile(out, rep); err != nil {
			return exitWith(exitFailed, "write %s: %v", out, err)
		}
	}
	return exitFor(rep, c.Bool("detailed-exitcode"))
}

// confirmApply decides whether to go on after a plan. rep is nil with
// --auto-approve (no separate plan was made).
func confirmApply(s *streams, rep *runner.Report, autoApprove bool) (bool, error) {
	if rep == nil {
		return true, nil
	}
	if rep.Summary.Changed == 0 {
		fmt.Fprintln(s.out, "No changes. Nothing to apply.")
		return false, nil
	}
	if rep.Summary.HostsChange == 0 {
		return false, nil
	}
	if autoApprove {
		return true, nil
	}
	fmt.Fprintf(s.out, "\nApply these changes to %d host(s)? Only 'yes' is accepted: ", rep.Summary.HostsChange)
	line, _ := bufio.NewReader(s.in).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		fmt.Fprintln(s.out, "Apply cancelled; nothing was changed.")
		return false, exitWith(exitFailed, "")
	}
	return true, nil
}

// plannedTargets keeps the hosts whose plan has changes; hosts that failed
// or could not be reached during the plan are not tried again.
func plannedTargets(all []runner.Target, rep *runner.Report) []runner.Target {
	if rep == nil {
		return all
	}
	byName := map[string]*runner.HostResult{}
	for _, h := range rep.Hosts {
		byName[h.Name] = h
	}
	var out []runner.Target
	for _, t := range all {
		if h := byName[t.Name]; h != nil && h.Status == runner.HostChanged {
			out = append(out, t)
		}
	}
	return out
}

// mergeReports returns the apply report, with the plan's results for the
// hosts the apply did not touch (unchanged, failed or unreachable).
func mergeReports(plan, applied *runner.Report) *runner.Report {
	if plan == nil {
		return applied
	}
	byName := map[string]*runner.HostResult{}
	for _, h := range applied.Hosts {
		byName[h.Name] = h
	}
	merged := *applied
	merged.StartedAt = plan.StartedAt
	merged.Hosts = nil
	for _, h := range plan.Hosts {
		if a := byName[h.Name]; a != nil {
			merged.Hosts = append(merged.Hosts, a)
		} else {
			merged.Hosts = append(merged.Hosts, h)
		}
	}
	merged.Summary = runner.Summarize(merged.Hosts)
	return &merged
}

func exitFor(rep *runner.Report, detailed bool) error {
	if rep.Interrupted {
		return codeOnly(exitInterrupted)
	}
	if rep.Summary.Failed > 0 || rep.Summary.Unreachable > 0 {
		return codeOnly(exitFailed)
	}
	if detailed && rep.Summary.Changed > 0 {
		return codeOnly(exitChanges)
	}
	return nil
}

func writeJSONFile(path string, rep *runner.Report) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { return runner.WriteJSON(w, rep) })
}

// interruptible returns a context cancelled by the first SIGINT or SIGTERM:
// no new step starts, running commands are signalled, and the recap still
// prints. A second signal ends the process at once; atomic writes mean it
// still leaves no half-written file.
func interruptible(s *streams) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			fmt.Fprintln(s.err, "\nInterrupted: no new step starts; running commands are being stopped. Interrupt again to quit at once.")
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
			fmt.Fprintln(s.err, "Interrupted twice: quitting now.")
			os.Exit(exitInterrupted)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

// runOptions assembles a run: one pooled SSH connection per host, the
// controller's dialer with --resolve applied.
func runOptions(c *cli.Context, l *loaded) (runner.Options, func(), error) {
	dialController, err := controllerDialer(c.StringSlice("resolve"))
	if err != nil {
		return runner.Options{}, nil, exitWith(exitFailed, "--resolve: %v", err)
	}
	pool := runner.NewPool(newDialer(c, l.inv))
	apis := newAPIPool(c.App.ErrWriter)
	opts := runner.Options{
		Playbook:       l.pb,
		Kinds:          l.kinds,
		Targets:        l.targets,
		Connector:      pool,
		Forks:          c.Int("forks"),
		StepTimeout:    c.Duration("step-timeout"),
		Version:        version,
		Inventory:      c.String("inventory"),
		DialController: dialController,
		APIConnector:   apis,
	}
	return opts, func() {
		apis.Close()
		pool.Close()
	}, nil
}
