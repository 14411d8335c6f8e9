package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/urfave/cli/v2"

	"github.com/smcfleet/smcfleet/internal/atomicfile"
	"github.com/smcfleet/smcfleet/internal/runlock"
	"github.com/smcfleet/smcfleet/inventory"
	"github.com/smcfleet/smcfleet/playbooks"
	"github.com/smcfleet/smcfleet/runner"
)

func useColor(c *cli.Context, s *streams, w any) bool {
	return !c.Bool("no-color") && isTerminal(w)
}

func validateCommand(s *streams) *cli.Command {
	return &cli.Command{
		Name:         "validate",
		BashComplete: completePlaybooks,
		Usage:        "check a playbook (and, with -i, every host's variables) without connecting anywhere",
		ArgsUsage:    "PLAYBOOK",
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
		Name:         "plan",
		BashComplete: completePlaybooks,
		Usage:        "show what apply would change on each host, changing nothing",
		ArgsUsage:    "PLAYBOOK",
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
	flags := append(runFlagsWith(false), applyFlags()...)
	return &cli.Command{
		Name:         "apply",
		BashComplete: completePlaybooks,
		Usage:        "plan, ask for confirmation, then make the changes (or apply a saved plan)",
		ArgsUsage:    "PLAYBOOK | PLAN.json",
		Description: `Shows the plan and asks for confirmation on a terminal, then runs the steps on
up to --forks hosts at once, steps in order on each host. A failed step stops
its host and reverts what this run changed on it (--no-rollback keeps it);
other hosts go on; handlers already notified still run. A recap closes the
run. Ctrl-C stops cleanly: no new step starts, running commands are
signalled, nothing is rolled back, and the recap still prints.

Unattended (no terminal on stdin) apply is refused unless --auto-approve is
given; with --auto-approve the plan is not shown first: each change is printed,
with its diff, as it is made.

PLAN.json (written by "plan --out") applies a saved plan without asking:
the playbook, inventory and variables it names are loaded again and must be
unchanged, and a host that no longer matches the plan is refused (drifted)
while the others get exactly the planned changes. Sensitive --var values are
not stored in a plan: give them again.

--batch, --max-fail, --canary and --pause roll the change out in batches;
--resume REPORT.json skips the hosts an earlier apply completed.

Examples:
   smcfleet apply -i inventory.hcl site.hcl
   smcfleet apply -i inventory.hcl --auto-approve --forks 20 --json site.hcl > report.json
   smcfleet apply -i inventory.hcl --auto-approve --canary 1 --batch 25% --max-fail 2 --pause 5m site.hcl
   smcfleet plan -i inventory.hcl --out plan.json site.hcl && smcfleet apply plan.json
   smcfleet apply -i inventory.hcl --auto-approve --resume report.json site.hcl`,
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
	// --log: everything printed also goes, without colour, to a log file.
	screen := s.out
	var logW io.Writer
	if p := c.String("log"); p != "" {
		lw, closeLog, err := openRunLog(p)
		if err != nil {
			return exitWith(exitFailed, "--log: %v", err)
		}
		defer closeLog()
		logW = lw
		s = &streams{in: s.in, out: teeWriter(s.out, lw), err: teeWriter(s.err, lw)}
	}
	dp := newDiagPrinter(s.err, useColor(c, s, s.err))
	var saved *runner.Report
	if mode == runner.ModeApply && c.NArg() == 1 {
		var err error
		if saved, err = readSavedPlan(c.Args().First()); err != nil {
			return err
		}
	}
	autoApprove := mode == runner.ModeApply && (c.Bool("auto-approve") || saved != nil)
	interactive := isTerminal(s.in)
	if mode == runner.ModeApply && !autoApprove && !interactive {
		return exitWith(exitFailed, "refusing to apply unattended: stdin is not a terminal. Review the plan with \"smcfleet plan\", then run apply with --auto-approve")
	}
	var l *loaded
	var err error
	if saved != nil {
		l, err = loadSavedPlan(c, dp, saved)
	} else {
		if c.String("inventory") == "" {
			return exitWith(exitFailed, "Required flag \"inventory\" not set")
		}
		l, err = loadAll(c, s, dp)
	}
	if err != nil {
		return err
	}
	dp.print(l.warnings)

	var rollout *runner.Rollout
	var earlier []*runner.HostResult
	resumeFrom := ""
	if mode == runner.ModeApply {
		if rollout, err = rolloutOptions(c, l); err != nil {
			return err
		}
		if resumeFrom = c.String("resume"); resumeFrom != "" {
			if earlier, err = resumeHosts(resumeFrom, l); err != nil {
				return err
			}
		}
	}

	// The run lock: a second apply (a cron run overtaking a slow one)
	// exits at once with its own code instead of racing the first.
	if mode == runner.ModeApply {
		lk, err := runlock.Acquire(cmp.Or(c.String("lock-file"), runlock.DefaultPath()))
		var held *runlock.HeldError
		if errors.As(err, &held) {
			return exitWith(exitLocked, "%v", err)
		}
		if err != nil {
			return exitWith(exitFailed, "lock: %v", err)
		}
		defer lk.Release()
	}

	ctx, stop := interruptible(s)
	defer stop()

	opts, closePool, err := runOptions(c, l)
	if err != nil {
		return err
	}
	defer closePool()
	opts.Rollout = rollout
	if mode == runner.ModeApply {
		opts.NoRollback = c.Bool("no-rollback")
	}
	if len(earlier) > 0 {
		done := map[string]bool{}
		for _, h := range earlier {
			done[h.Name] = true
		}
		var rest []runner.Target
		for _, t := range opts.Targets {
			if !done[t.Name] {
				rest = append(rest, t)
			}
		}
		opts.Targets = rest
		if !c.Bool("json") {
			var names []string
			for _, h := range earlier {
				names = append(names, h.Name)
			}
			fmt.Fprintf(s.out, "Resuming %s: skipping %s (completed earlier).\n", resumeFrom, strings.Join(names, ", "))
		}
	}
	targets := opts.Targets

	asJSON := c.Bool("json")
	color := !asJSON && useColor(c, s, screen)
	var prog *progress
	observe := func(m runner.Mode) *runner.Printer {
		if asJSON {
			opts.Observer = nil
			return nil
		}
		var names []string
		for _, t := range opts.Targets {
			names = append(names, t.Name)
		}
		out := s.out
		// On a terminal, a live bar (hosts done, changed, failed, batch,
		// ETA) under the lines; without one, plain lines only.
		if !c.Bool("quiet") && isTerminal(screen) {
			prog = newProgress(screen, len(opts.Targets))
			// The log gets the lines, never the bar's frames.
			out = teeWriter(prog.Writer(), logW)
		}
		p := runner.NewPrinter(out, m, color, names...)
		p.SetQuiet(c.Bool("quiet"))
		opts.Observer = p
		if prog != nil {
			prog.Wrap(p)
			opts.Observer = prog
		}
		return p
	}
	recap := func(p *runner.Printer, rep *runner.Report) {
		if prog != nil {
			prog.Close()
			prog = nil
		}
		if p != nil {
			p.Recap(rep)
		}
	}

	var rep *runner.Report
	switch {
	case saved != nil:
		// The re-check: a plan made now, compared with the saved one. A
		// host that differs is refused before any change is made on it.
		opts.Mode = runner.ModePlan
		opts.Observer = nil
		rep = runner.Run(ctx, opts)
		markDrift(s, rep, saved, asJSON, color)
	case mode == runner.ModePlan || !autoApprove:
		opts.Mode = runner.ModePlan
		p := observe(runner.ModePlan)
		rep = runner.Run(ctx, opts)
		recap(p, rep)
	}
	if mode == runner.ModePlan {
		rep.Inputs = planInputs(c, l)
	}
	if mode == runner.ModeApply && (rep == nil || !rep.Interrupted) {
		proceed := true
		if saved == nil {
			proceed, err = confirmApply(s, rep, autoApprove)
			if err != nil {
				return err
			}
		} else if rep.Summary.HostsChange == 0 {
			proceed = false
			if !asJSON {
				fmt.Fprintln(s.out, "No host left to apply the plan to.")
			}
		}
		if proceed {
			opts.Mode = runner.ModeApply
			opts.Targets = plannedTargets(targets, rep)
			if opts.Rollout != nil && rep != nil {
				for _, h := range rep.Hosts {
					if runner.CountsAsFailure(h.Status) {
						opts.Rollout.PriorFailures++
					}
				}
			}
			p := observe(runner.ModeApply)
			applied := runner.Run(ctx, opts)
			rep = mergeReports(rep, applied)
			if len(earlier) > 0 {
				rep = withEarlier(rep, earlier, l.targets)
				earlier = nil
			}
			recap(p, rep)
		}
	}
	if len(earlier) > 0 && rep != nil {
		rep = withEarlier(rep, earlier, l.targets)
	}
	if rep == nil {
		// --resume with every host completed and --auto-approve.
		rep = withEarlier(&runner.Report{FormatVersion: runner.FormatVersion, Kind: mode, Version: version,
			Playbook: l.pb.Path, Inventory: c.String("inventory")}, earlier, l.targets)
	}
	if resumeFrom != "" {
		rep.Resumed = resumeFrom
	}
	if asJSON {
		if err := runner.WriteJSON(s.out, rep); err != nil {
			return err
		}
	}
	if p := c.String("report"); p != "" {
		if err := writeJSONFile(p, rep); err != nil {
			return exitWith(exitFailed, "write %s: %v", p, err)
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
	sum := rep.Summary
	if sum.Failed > 0 || sum.Unreachable > 0 || sum.RolledBack > 0 || sum.Drifted > 0 || sum.NotAttempted > 0 {
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

// readSavedPlan reads PATH when it is a saved plan (a .json file, or a
// file holding a report of kind "plan"); it returns nil for a playbook.
func readSavedPlan(path string) (*runner.Report, error) {
	isJSON := strings.HasSuffix(path, ".json")
	st, err := os.Stat(path)
	if err != nil || st.IsDir() {
		if isJSON {
			return nil, exitWith(exitFailed, "read plan %s: %v", path, err)
		}
		return nil, nil
	}
	if !isJSON {
		head := make([]byte, 1)
		f, err := os.Open(path)
		if err != nil {
			return nil, nil
		}
		n, _ := io.ReadFull(bufio.NewReader(f), head)
		f.Close()
		if n == 0 || head[0] != '{' {
			return nil, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, exitWith(exitFailed, "read plan %s: %v", path, err)
	}
	defer f.Close()
	rep, err := runner.ReadReport(f)
	if err != nil {
		return nil, exitWith(exitFailed, "%s is not a saved plan: %v", path, err)
	}
	switch {
	case rep.Kind == runner.ModeApply:
		return nil, exitWith(exitFailed, "%s is an apply report, not a plan: continue it with --resume %s, or make a plan with \"smcfleet plan --out\"", path, path)
	case rep.Kind != runner.ModePlan:
		return nil, exitWith(exitFailed, "%s is not a saved plan (kind %q)", path, rep.Kind)
	case rep.Inputs == nil:
		return nil, exitWith(exitFailed, "%s records no inputs (playbook, inventory, variables): make a new plan with \"smcfleet plan --out\"", path)
	}
	return rep, nil
}

// loadSavedPlan loads what the saved plan was made from (its playbook,
// inventory, --limit, variable files and non-sensitive --var values; the
// sensitive ones must be given again) and refuses the whole plan when any
// of it changed.
func loadSavedPlan(c *cli.Context, dp *diagPrinter, saved *runner.Report) (*loaded, error) {
	in := saved.Inputs
	if c.String("limit") != "" || len(c.StringSlice("var-file")) > 0 {
		return nil, exitWith(exitFailed, "a saved plan brings its own --limit and --var-file: give only the sensitive --var values it asks for")
	}
	set := func(name, value string) error {
		if err := c.Set(name, value); err != nil {
			return exitWith(exitFailed, "--%s %s: %v", name, value, err)
		}
		return nil
	}
	if c.String("inventory") == "" {
		if err := set("inventory", in.Inventory.Path); err != nil {
			return nil, err
		}
	}
	if in.Limit != "" {
		if err := set("limit", in.Limit); err != nil {
			return nil, err
		}
	}
	for _, f := range in.VarFiles {
		if err := set("var-file", f.Path); err != nil {
			return nil, err
		}
	}
	given := map[string][]string{}
	for _, a := range c.StringSlice("var") {
		name, _, _ := strings.Cut(a, "=")
		given[strings.TrimSpace(name)] = append(given[strings.TrimSpace(name)], a)
	}
	for _, v := range in.Vars {
		if !v.Sensitive {
			if v.Value != nil && !slices.Contains(given[v.Name], v.Name+"="+*v.Value) {
				if err := set("var", v.Name+"="+*v.Value); err != nil {
					return nil, err
				}
			}
			continue
		}
		if len(given[v.Name]) == 0 {
			return nil, exitWith(exitFailed, "variable %q is sensitive and the plan does not store its value: give it again with --var %s=VALUE (it is checked against the plan)", v.Name, v.Name)
		}
		ok := false
		for _, a := range given[v.Name] {
			ok = ok || runner.SHA256Hex([]byte(a)) == v.SHA256
		}
		if !ok {
			return nil, exitWith(exitFailed, "the plan was made from different variables (--var %s differs): make a new plan", v.Name)
		}
	}
	l, err := loadWith(c, dp, func(kinds runner.Registry) (*playbooks.Playbook, hcl.Diagnostics) {
		return loadPlaybook(in.Playbook.Path, kinds)
	})
	if err != nil {
		return nil, err
	}
	now := planInputs(c, l)
	refuse := func(what, detail string) error {
		return exitWith(exitFailed, "the plan was made from a different %s (%s): make a new plan", what, detail)
	}
	if now.Playbook.SHA256 != in.Playbook.SHA256 {
		var changed []string
		was := map[string]string{}
		for _, f := range in.PlaybookFiles {
			was[f.Path] = f.SHA256
		}
		for _, f := range now.PlaybookFiles {
			if was[f.Path] != f.SHA256 {
				changed = append(changed, f.Path)
			}
			delete(was, f.Path)
		}
		for p := range was {
			changed = append(changed, p+" (gone)")
		}
		sort.Strings(changed)
		return nil, refuse("playbook", in.Playbook.Path+": "+strings.Join(changed, ", ")+" changed")
	}
	if now.Inventory.SHA256 != in.Inventory.SHA256 {
		return nil, refuse("inventory", in.Inventory.Path+" changed")
	}
	for i, f := range in.VarFiles {
		if i >= len(now.VarFiles) || now.VarFiles[i].SHA256 != f.SHA256 {
			return nil, refuse("set of variables", f.Path+" changed")
		}
	}
	var hosts []string
	for h := range in.HostVars {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		got, ok := now.HostVars[h]
		if !ok {
			return nil, refuse("inventory", "host "+h+" is no longer selected")
		}
		if got != in.HostVars[h] {
			return nil, refuse("set of variables", "the values for "+h+" differ")
		}
	}
	for h := range now.HostVars {
		if _, ok := in.HostVars[h]; !ok {
			return nil, refuse("inventory", "host "+h+" is not in the plan")
		}
	}
	return l, nil
}

// planInputs fingerprints what a plan is made from (see runner.PlanInputs).
func planInputs(c *cli.Context, l *loaded) *runner.PlanInputs {
	in := &runner.PlanInputs{Limit: c.String("limit"), HostVars: map[string]string{}}
	in.Playbook.Path = l.pb.Path
	if _, err := os.Stat(l.pb.Path); err == nil {
		if abs, err := filepath.Abs(l.pb.Path); err == nil {
			in.Playbook.Path = abs
		}
	}
	var all strings.Builder
	for name, f := range l.pb.Files {
		in.PlaybookFiles = append(in.PlaybookFiles, runner.InputFile{Path: filepath.Base(name), SHA256: runner.SHA256Hex(f.Bytes)})
	}
	sort.Slice(in.PlaybookFiles, func(i, j int) bool { return in.PlaybookFiles[i].Path < in.PlaybookFiles[j].Path })
	for _, f := range in.PlaybookFiles {
		fmt.Fprintf(&all, "%s %s\n", f.SHA256, f.Path)
	}
	in.Playbook.SHA256 = runner.SHA256Hex([]byte(all.String()))
	in.Inventory = fileInput(c.String("inventory"))
	for _, f := range c.StringSlice("var-file") {
		in.VarFiles = append(in.VarFiles, fileInput(f))
	}
	sensitive := map[string]bool{}
	for _, v := range l.pb.Variables {
		sensitive[v.Name] = v.Sensitive
	}
	for _, a := range c.StringSlice("var") {
		name, value, _ := strings.Cut(a, "=")
		name = strings.TrimSpace(name)
		iv := runner.InputVar{Name: name, Sensitive: sensitive[name], SHA256: runner.SHA256Hex([]byte(a))}
		if !iv.Sensitive {
			iv.Value = &value
		}
		in.Vars = append(in.Vars, iv)
	}
	for _, t := range l.targets {
		in.HostVars[t.Name] = runner.HashVars(t.Vars)
	}
	return in
}

func fileInput(p string) runner.InputFile {
	f := runner.InputFile{Path: p}
	if abs, err := filepath.Abs(p); err == nil {
		f.Path = abs
	}
	data, err := os.ReadFile(p)
	if err != nil {
		data = []byte("(unreadable: " + err.Error() + ")")
	}
	f.SHA256 = runner.SHA256Hex(data)
	return f
}

// markDrift compares the re-check with the saved plan: a host that no
// longer matches is refused (drifted), with what changed in words.
func markDrift(s *streams, rep, saved *runner.Report, asJSON, color bool) {
	savedBy := map[string]*runner.HostResult{}
	for _, h := range saved.Hosts {
		savedBy[h.Name] = h
	}
	for i, h := range rep.Hosts {
		switch h.Status {
		case runner.HostFailed, runner.HostUnreachable, runner.HostInterrupted:
			continue
		}
		var drift []string
		if sh := savedBy[h.Name]; sh == nil {
			drift = []string{"the host is not in the plan"}
		} else {
			drift = runner.Drift(sh, h)
		}
		if len(drift) == 0 {
			continue
		}
		steps := make([]*runner.StepResult, 0, len(h.Steps))
		for _, r := range h.Steps {
			c := *r
			c.Status = runner.StepNotRun
			c.Reason = "the host no longer matches the plan"
			steps = append(steps, &c)
		}
		rep.Hosts[i] = &runner.HostResult{
			Name: h.Name, Address: h.Address, Status: runner.HostDrifted,
			Reason: "refused: the host no longer matches the plan: " + strings.Join(drift, "; "),
			Drift:  drift, Steps: steps, Handlers: []*runner.StepResult{},
		}
		if !asJSON {
			name := h.Name
			label := "drifted, refused:"
			if color {
				name, label = "\x1b[1m"+name+"\x1b[0m", "\x1b[31m"+label+"\x1b[0m"
			}
			for _, d := range drift {
				fmt.Fprintf(s.out, "%s  %s %s\n", name, label, d)
			}
		}
	}
	rep.Summary = runner.Summarize(rep.Hosts)
}

// rolloutOptions reads --batch, --max-fail, --canary and --pause, falling
// back to the playbook block's defaults; nil when none is set.
func rolloutOptions(c *cli.Context, l *loaded) (*runner.Rollout, error) {
	d := l.pb.Rollout
	pick := func(flag, fromPlaybook, attr string) (string, string) {
		if v := strings.TrimSpace(c.String(flag)); v != "" {
			return v, "--" + flag + " " + v
		}
		return fromPlaybook, "the playbook's " + attr + " " + fromPlaybook
	}
	n := len(l.targets)
	batch, batchName := pick("batch", d.Batch, "batch")
	maxFail, maxFailName := pick("max-fail", d.MaxFail, "max_fail")
	canary, canaryName := pick("canary", d.Canary, "canary")
	pause, havePause := c.Duration("pause"), c.IsSet("pause")
	if !havePause && d.Pause != "" {
		p, err := time.ParseDuration(d.Pause)
		if err != nil {
			return nil, exitWith(exitFailed, "the playbook's pause %q is not a duration", d.Pause)
		}
		pause, havePause = p, true
	}
	if batch == "" && maxFail == "" && canary == "" && !havePause {
		return nil, nil
	}
	if pause < 0 {
		return nil, exitWith(exitFailed, "--pause must not be negative")
	}
	r := &runner.Rollout{MaxFail: -1, Pause: pause}
	// count reads "N" or "N%" (of the n selected hosts).
	count := func(v, name string, roundUp bool) (int, bool, error) {
		bad := exitWith(exitFailed, "%s: give a number of hosts or a percentage of them, such as 2 or 25%%", name)
		num, pct := strings.CutSuffix(v, "%")
		x, err := strconv.Atoi(num)
		if err != nil || x < 0 || (pct && x > 100) {
			return 0, pct, bad
		}
		if !pct {
			return x, false, nil
		}
		if roundUp {
			return max(1, (x*n+99)/100), true, nil
		}
		return x * n / 100, true, nil
	}
	if batch != "" {
		size, _, err := count(batch, batchName, true)
		if err != nil {
			return nil, err
		}
		if size < 1 {
			return nil, exitWith(exitFailed, "%s: a batch needs at least one host", batchName)
		}
		r.Batch = size
	}
	if maxFail != "" {
		allowed, pct, err := count(maxFail, maxFailName, false)
		if err != nil {
			return nil, err
		}
		r.MaxFail = allowed
		r.MaxFailText = maxFailName
		if pct {
			r.MaxFailText = fmt.Sprintf("%s of %d hosts (%d)", maxFailName, n, allowed)
		}
	}
	if canary != "" {
		x, err := strconv.Atoi(canary)
		if err != nil || x < 0 {
			return nil, exitWith(exitFailed, "%s: give a number of hosts", canaryName)
		}
		r.Canary = x
	}
	return r, nil
}

// resumeHosts reads an earlier apply report and returns, as
// completed_earlier results, the selected hosts it shows as completed.
func resumeHosts(path string, l *loaded) ([]*runner.HostResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, exitWith(exitFailed, "--resume: %v", err)
	}
	defer f.Close()
	rep, err := runner.ReadReport(f)
	if err != nil {
		return nil, exitWith(exitFailed, "--resume %s: not a report: %v", path, err)
	}
	if rep.Kind != runner.ModeApply {
		return nil, exitWith(exitFailed, "--resume %s: this is a %s, not an apply report (write one with apply --out or --json)", path, rep.Kind)
	}
	if filepath.Clean(rep.Playbook) != filepath.Clean(l.pb.Path) {
		return nil, exitWith(exitFailed, "--resume %s: that run applied %s, not %s", path, rep.Playbook, l.pb.Path)
	}
	selected := map[string]bool{}
	for _, t := range l.targets {
		selected[t.Name] = true
	}
	var out []*runner.HostResult
	for _, h := range rep.Hosts {
		if !selected[h.Name] {
			continue
		}
		reason := ""
		switch h.Status {
		case runner.HostOK, runner.HostChanged:
			reason = fmt.Sprintf("completed in the run of %s (%s)", path, h.Status)
		case runner.HostCompletedEarlier:
			reason = h.Reason
		default:
			continue
		}
		out = append(out, &runner.HostResult{Name: h.Name, Address: h.Address, Status: runner.HostCompletedEarlier,
			Reason: reason, Steps: []*runner.StepResult{}, Handlers: []*runner.StepResult{}})
	}
	return out, nil
}

// withEarlier puts the hosts --resume skipped back into the report, in
// inventory order.
func withEarlier(rep *runner.Report, earlier []*runner.HostResult, all []runner.Target) *runner.Report {
	by := map[string]*runner.HostResult{}
	for _, h := range rep.Hosts {
		by[h.Name] = h
	}
	for _, h := range earlier {
		by[h.Name] = h
	}
	merged := *rep
	merged.Hosts = nil
	for _, t := range all {
		if h := by[t.Name]; h != nil {
			merged.Hosts = append(merged.Hosts, h)
		}
	}
	merged.Summary = runner.Summarize(merged.Hosts)
	return &merged
}
