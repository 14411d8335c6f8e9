package main

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"mvdan.cc/sh/v3/syntax"

	"github.com/smcfleet/smcfleet/internal/atomicfile"
	"github.com/smcfleet/smcfleet/playbooks"
	"github.com/smcfleet/smcfleet/runner"
)

// applyReportFlag is the apply flag the scheduled command writes its JSON
// report with.
const applyReportFlag = "--report"

func scheduleCommand(s *streams) *cli.Command {
	return &cli.Command{
		Name:      "schedule",
		Usage:     "print (or install) a crontab line and a systemd timer that apply a playbook unattended",
		ArgsUsage: "[PLAYBOOK]",
		Description: `Prints how to run "smcfleet apply --auto-approve --quiet PLAYBOOK" every
--every: a crontab line, and a systemd service and timer. PLAYBOOK is a
bundled playbook name or a .hcl file or directory (default: cert-refresh).
Nothing connects anywhere and nothing is scheduled unless --install is given.

Every path in the command is absolute (the smcfleet binary, the inventory,
--var-file, --lock-file, --report, --log), so it runs from any directory.
The run lock (--lock-file) makes a run that finds another still going exit
75 and change nothing.

When cron fires: 24h runs daily, 1h hourly, other periods on the matching
cron step; the minute and hour come from a hash of the inventory path, so
fleets scheduled the same way do not all start at once. A period that cron
cannot express exactly gets the closest one, with a note; the systemd timer
then keeps the exact period. --jitter adds a random delay (systemd
RandomizedDelaySec; cron has none).

Secrets never go into the units or the crontab line: put them, single-
quoted, one per line, in the environment file (--env-file; mode 0600):
SMCFLEET_VAR_smtp_password='...', SMCFLEET_SSH_PASSPHRASE='...', and any
env("...") your inventory reads. The timer reads it with EnvironmentFile=,
the crontab line with ". FILE". A --var naming a sensitive variable is
refused.

--install writes the two units, atomically, for the current user
(~/.config/systemd/user/) or, as root, system-wide (/etc/systemd/system/),
and prints the systemctl commands that enable them; it runs none. A unit
that exists with other content is left alone unless --force is given.

Examples:
   smcfleet schedule -i fleet.hcl --var-file ses.vars.hcl
   smcfleet schedule -i fleet.hcl --every 24h --jitter 30m --log ~/smcfleet/cert-refresh.log cert-refresh
   smcfleet schedule -i fleet.hcl --every 6h --report /var/lib/smcfleet/last.json --install
   SMCFLEET_INVENTORY=fleet.hcl SMCFLEET_SCHEDULE_EVERY=12h smcfleet schedule`,
		Flags: []cli.Flag{
			inventoryFlag(true),
			limitFlag,
			&cli.DurationFlag{
				Name: "every", EnvVars: env("SCHEDULE_EVERY"), Value: 24 * time.Hour,
				Usage: "run every `DURATION` (at least 1m)",
			},
			&cli.DurationFlag{
				Name: "jitter", EnvVars: env("SCHEDULE_JITTER"),
				Usage: "delay each run by a random time up to `DURATION` (systemd RandomizedDelaySec)",
			},
			&cli.StringSliceFlag{
				Name: "var", EnvVars: env("VARS"),
				Usage: "pass a playbook variable: `NAME=VALUE` (repeatable; never a secret: use the environment file)",
			},
			&cli.StringSliceFlag{
				Name: "var-file", EnvVars: env("VAR_FILES"), TakesFile: true,
				Usage: "pass a variables `FILE` (repeatable; made absolute)",
			},
			&cli.StringFlag{
				Name: "lock-file", EnvVars: env("LOCK_FILE"), TakesFile: true,
				Usage: "run lock `FILE` of the scheduled runs (default ~/.cache/smcfleet/run.lock; as root /run/lock/smcfleet.lock)",
			},
			&cli.StringFlag{
				Name: "report", EnvVars: env("REPORT"), TakesFile: true,
				Usage: "the scheduled runs write their JSON report to `FILE`",
			},
			&cli.StringFlag{
				Name: "log", EnvVars: env("LOG"), TakesFile: true,
				Usage: "the scheduled runs append their output to `FILE`",
			},
			&cli.StringFlag{
				Name: "env-file", EnvVars: env("SCHEDULE_ENV_FILE"), TakesFile: true,
				Usage: "environment `FILE` holding the secrets (default ~/.config/smcfleet/UNIT.env; as root /etc/smcfleet/UNIT.env)",
			},
			&cli.StringFlag{
				Name: "name", EnvVars: env("SCHEDULE_NAME"),
				Usage: "unit `NAME` (default smcfleet-PLAYBOOK)",
			},
			&cli.BoolFlag{
				Name: "install", EnvVars: env("SCHEDULE_INSTALL"),
				Usage: "write the systemd service and timer (user units; system units as root)",
			},
			&cli.BoolFlag{
				Name: "force", EnvVars: env("SCHEDULE_FORCE"),
				Usage: "with --install, replace units that exist with other content",
			},
			&cli.StringFlag{
				Name: "systemd-dir", EnvVars: env("SYSTEMD_DIR"), Hidden: true, TakesFile: true,
				Usage: "write the units to `DIR` instead (tests)",
			},
		},
		Action: func(c *cli.Context) error {
			sc, err := newSchedule(c, s)
			if err != nil {
				return err
			}
			if c.Bool("install") {
				return sc.install(s.out, c.Bool("force"))
			}
			sc.print(s.out)
			return nil
		},
	}
}

type schedule struct {
	unit     string   // base name of the .service and .timer
	playbook string   // as passed to apply
	inv      string   // absolute inventory path
	argv     []string // the apply command
	every    time.Duration
	jitter   time.Duration
	cron     cronSchedule
	envFile  string
	system   bool   // system units (root) rather than user units
	dir      string // where --install writes the units
}

var unitNameRE = regexp.MustCompile(`^[A-Za-z0-9:_.\\-]+$`)

func newSchedule(c *cli.Context, s *streams) (*schedule, error) {
	if c.NArg() > 1 {
		return nil, exitWith(exitFailed, "give at most one PLAYBOOK; see --help")
	}
	pbArg := "cert-refresh"
	if c.NArg() == 1 {
		pbArg = c.Args().First()
	}
	every, jitter := c.Duration("every"), c.Duration("jitter")
	if every < time.Minute {
		return nil, exitWith(exitFailed, "--every %s: the period must be at least 1m", every)
	}
	if jitter < 0 {
		return nil, exitWith(exitFailed, "--jitter must not be negative")
	}

	// The playbook must load, and it tells which variables are secrets.
	dp := newDiagPrinter(s.err, useColorFlagless(s.err))
	pb, diags := loadPlaybook(pbArg, runner.DefaultKinds())
	if pb != nil {
		dp.addFiles(pb.Files)
	}
	if diags.HasErrors() {
		dp.print(diags)
		return nil, codeOnly(exitFailed)
	}
	playbook := pbArg
	if _, err := os.Stat(pbArg); err == nil || !playbooks.IsBundled(pbArg) {
		if playbook, err = absPath(pbArg); err != nil {
			return nil, exitWith(exitFailed, "%v", err)
		}
	}
	sensitive := map[string]bool{}
	for _, v := range pb.Variables {
		sensitive[v.Name] = v.Sensitive
	}
	for _, kv := range c.StringSlice("var") {
		name, _, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, exitWith(exitFailed, "--var %q: want NAME=VALUE", kv)
		}
		if sensitive[name] {
			return nil, exitWith(exitFailed, "--var %s: %s is a sensitive variable; it would be written into the crontab line and the unit. "+
				"Put SMCFLEET_VAR_%s='...' in the environment file instead (mode 0600)", name, name, name)
		}
	}

	inv, err := absPath(c.String("inventory"))
	if err != nil {
		return nil, exitWith(exitFailed, "%v", err)
	}
	if _, err := os.Stat(inv); err != nil {
		return nil, exitWith(exitFailed, "inventory: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, exitWith(exitFailed, "cannot find the smcfleet binary: %v", err)
	}

	sc := &schedule{playbook: playbook, inv: inv, every: every, jitter: jitter, system: os.Geteuid() == 0}
	sc.unit = c.String("name")
	if sc.unit == "" {
		sc.unit = "smcfleet-" + unitSafe(strings.TrimSuffix(filepath.Base(pbArg), ".hcl"))
	}
	if !unitNameRE.MatchString(sc.unit) {
		return nil, exitWith(exitFailed, "--name %q: use letters, digits and - _ . : only", sc.unit)
	}
	home, _ := os.UserHomeDir()
	switch {
	case c.String("env-file") != "":
		if sc.envFile, err = absPath(c.String("env-file")); err != nil {
			return nil, exitWith(exitFailed, "%v", err)
		}
	case sc.system:
		sc.envFile = filepath.Join("/etc/smcfleet", sc.unit+".env")
	default:
		sc.envFile = filepath.Join(home, ".config", "smcfleet", sc.unit+".env")
	}
	switch {
	case c.String("systemd-dir") != "":
		sc.dir = c.String("systemd-dir")
	case sc.system:
		sc.dir = "/etc/systemd/system"
	default:
		sc.dir = filepath.Join(home, ".config", "systemd", "user")
	}

	lock := c.String("lock-file")
	if lock == "" {
		// Not runlock.DefaultPath: cron runs without XDG_RUNTIME_DIR, so the
		// lock must not depend on it.
		lock = "/run/lock/smcfleet.lock"
		if !sc.system {
			lock = filepath.Join(home, ".cache", "smcfleet", "run.lock")
		}
	}
	argv := []string{exe, "apply", "-i", inv}
	if l := c.String("limit"); l != "" {
		argv = append(argv, "--limit", l)
	}
	argv = append(argv, "--auto-approve", "--quiet")
	for _, f := range []struct{ flag, path string }{
		{"--lock-file", lock}, {applyReportFlag, c.String("report")}, {"--log", c.String("log")},
	} {
		if f.path == "" {
			continue
		}
		p, err := absPath(f.path)
		if err != nil {
			return nil, exitWith(exitFailed, "%v", err)
		}
		argv = append(argv, f.flag, p)
	}
	for _, f := range c.StringSlice("var-file") {
		p, err := absPath(f)
		if err != nil {
			return nil, exitWith(exitFailed, "%v", err)
		}
		if _, err := os.Stat(p); err != nil {
			return nil, exitWith(exitFailed, "--var-file: %v", err)
		}
		argv = append(argv, "--var-file", p)
	}
	for _, kv := range c.StringSlice("var") {
		argv = append(argv, "--var", kv)
	}
	sc.argv = append(argv, playbook)

	h := fnv.New64a()
	io.WriteString(h, inv+"\n"+sc.unit)
	sc.cron = cronFor(every, h.Sum64())
	return sc, nil
}

func useColorFlagless(w io.Writer) bool { return isTerminal(w) }

func absPath(p string) (string, error) {
	if strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		p = filepath.Join(home, p[2:])
	}
	return filepath.Abs(p)
}

func unitSafe(s string) string {
	return regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(s, "-")
}

// cronSchedule is when a period fires, in cron and in systemd calendar
// form.
type cronSchedule struct {
	expr     string        // crontab fields, "17 3 * * *"
	calendar string        // systemd OnCalendar=, same times
	period   time.Duration // the period it has
	exact    bool          // period == the asked one
}

// cronFor picks the cron schedule closest to every. seed (a hash of the
// inventory) spreads the minute, hour and weekday.
func cronFor(every time.Duration, seed uint64) cronSchedule {
	minute := int(seed % 60)
	hour := int(seed / 60 % 24)
	var cands []cronSchedule
	for _, n := range []int{1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30} {
		off := int(seed % uint64(n))
		cs := cronSchedule{
			expr:     fmt.Sprintf("%d-59/%d * * * *", off, n),
			calendar: fmt.Sprintf("*-*-* *:%02d/%d:00", off, n),
			period:   time.Duration(n) * time.Minute,
		}
		if n == 1 {
			cs.expr, cs.calendar = "* * * * *", "*-*-* *:*:00"
		}
		cands = append(cands, cs)
	}
	cands = append(cands, cronSchedule{
		expr:     fmt.Sprintf("%d * * * *", minute),
		calendar: fmt.Sprintf("*-*-* *:%02d:00", minute),
		period:   time.Hour,
	})
	for _, n := range []int{2, 3, 4, 6, 8, 12} {
		off := int(seed / 60 % uint64(n))
		cands = append(cands, cronSchedule{
			expr:     fmt.Sprintf("%d %d-23/%d * * *", minute, off, n),
			calendar: fmt.Sprintf("*-*-* %02d/%d:%02d:00", off, n, minute),
			period:   time.Duration(n) * time.Hour,
		})
	}
	cands = append(cands, cronSchedule{
		expr:     fmt.Sprintf("%d %d * * *", minute, hour),
		calendar: fmt.Sprintf("*-*-* %02d:%02d:00", hour, minute),
		period:   24 * time.Hour,
	})
	dow := int(seed / 1440 % 7)
	cands = append(cands, cronSchedule{
		expr:     fmt.Sprintf("%d %d * * %d", minute, hour, dow),
		calendar: fmt.Sprintf("%s *-*-* %02d:%02d:00", []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}[dow], hour, minute),
		period:   7 * 24 * time.Hour,
	})
	best, bestDist := cands[0], math.Inf(1)
	for _, cs := range cands {
		if d := math.Abs(math.Log(float64(every) / float64(cs.period))); d < bestDist {
			best, bestDist = cs, d
		}
	}
	best.exact = best.period == every
	return best
}

// shellLine is the command for /bin/sh, with the environment file read
// first (exported) when it is readable.
func (sc *schedule) shellLine() string {
	env := shQuote(sc.envFile)
	return fmt.Sprintf("set -a; [ -r %s ] && . %s; set +a; exec %s", env, env, shJoin(sc.argv))
}

// crontabLine escapes % (a newline to cron).
func (sc *schedule) crontabLine() string {
	return sc.cron.expr + " " + strings.ReplaceAll(sc.shellLine(), "%", `\%`)
}

func shQuote(s string) string {
	q, err := syntax.Quote(s, syntax.LangPOSIX)
	if err != nil {
		// Only non-printable bytes get here; paths and flags have none.
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return q
}

func shJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shQuote(a)
	}
	return strings.Join(q, " ")
}

// systemdQuote quotes one word of ExecStart=: % and $ are doubled
// (specifiers, variables); words with spaces or quotes are double-quoted.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if s != "" && !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return `"` + s + `"`
}

// systemdSpan renders a duration as a systemd time span: 30m, 1h30m, 45s.
func systemdSpan(d time.Duration) string {
	var b strings.Builder
	for _, u := range []struct {
		d time.Duration
		s string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.s)
			d -= n * u.d
		}
	}
	if d > 0 {
		fmt.Fprintf(&b, "%dms", d.Milliseconds())
	}
	if b.Len() == 0 {
		return "0"
	}
	return b.String()
}

func (sc *schedule) description() string {
	pb := sc.playbook
	if filepath.IsAbs(pb) {
		pb = filepath.Base(pb)
	}
	// % starts a specifier in unit files.
	return strings.ReplaceAll(fmt.Sprintf("smcfleet apply %s on %s", pb, sc.inv), "%", "%%")
}

func (sc *schedule) service() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by smcfleet schedule. Secrets go in the EnvironmentFile (mode 0600), never here.\n")
	fmt.Fprintf(&b, "[Unit]\nDescription=%s\n", sc.description())
	b.WriteString("Wants=network-online.target\nAfter=network-online.target\n\n")
	b.WriteString("[Service]\nType=oneshot\n")
	if sc.system {
		// HOME (for ~ in the inventory) is set for system services only with User=.
		b.WriteString("User=root\n")
	}
	fmt.Fprintf(&b, "EnvironmentFile=-%s\n", strings.ReplaceAll(sc.envFile, "%", "%%"))
	q := make([]string, len(sc.argv))
	for i, a := range sc.argv {
		q[i] = systemdQuote(a)
	}
	fmt.Fprintf(&b, "ExecStart=%s\n", strings.Join(q, " "))
	return b.String()
}

func (sc *schedule) timer() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by smcfleet schedule.\n[Unit]\nDescription=%s every %s\n\n[Timer]\n", sc.description(), systemdSpan(sc.every))
	if sc.cron.exact {
		fmt.Fprintf(&b, "OnCalendar=%s\n", sc.cron.calendar)
	} else {
		fmt.Fprintf(&b, "OnBootSec=%s\nOnUnitActiveSec=%s\n", systemdSpan(min(sc.every, 15*time.Minute)), systemdSpan(sc.every))
	}
	if sc.jitter > 0 {
		fmt.Fprintf(&b, "RandomizedDelaySec=%s\n", systemdSpan(sc.jitter))
	}
	b.WriteString("Persistent=true\n\n[Install]\nWantedBy=timers.target\n")
	return b.String()
}

func (sc *schedule) systemctl() string {
	if sc.system {
		return "systemctl"
	}
	return "systemctl --user"
}

func (sc *schedule) print(w io.Writer) {
	fmt.Fprintf(w, "# cron: add this line with \"crontab -e\"")
	switch {
	case !sc.cron.exact:
		fmt.Fprintf(w, ". Cron cannot run every %s exactly: this runs every %s, the closest it can; the systemd timer below keeps %s.\n",
			systemdSpan(sc.every), systemdSpan(sc.cron.period), systemdSpan(sc.every))
	case sc.jitter > 0:
		fmt.Fprintf(w, ". Cron has no --jitter; the time is already spread by a hash of the inventory path.\n")
	default:
		fmt.Fprintln(w, ".")
	}
	fmt.Fprintf(w, "%s\n\n", sc.crontabLine())
	fmt.Fprintf(w, "# systemd: or these two units (smcfleet schedule ... --install writes them).\n")
	fmt.Fprintf(w, "# %s\n%s\n", filepath.Join(sc.dir, sc.unit+".service"), sc.service())
	fmt.Fprintf(w, "# %s\n%s\n", filepath.Join(sc.dir, sc.unit+".timer"), sc.timer())
	sc.printSecrets(w)
}

func (sc *schedule) printSecrets(w io.Writer) {
	fmt.Fprintf(w, `Secrets: never in the crontab or the units. Put them in %s
(chmod 600), one per line, single-quoted; both the timer and the crontab line read it:
  SMCFLEET_VAR_smtp_password='...'
  SMCFLEET_SSH_PASSPHRASE='...'     (encrypted identity files)
  and every env("...") your inventory reads, e.g. SMC_API_PASSWORD='...'
`, sc.envFile)
}

// install writes the units atomically. Either both are written or, when
// one exists with other content and force is off, neither.
func (sc *schedule) install(w io.Writer, force bool) error {
	files := []struct{ path, content string }{
		{filepath.Join(sc.dir, sc.unit+".service"), sc.service()},
		{filepath.Join(sc.dir, sc.unit+".timer"), sc.timer()},
	}
	var conflicts []string
	for _, f := range files {
		old, err := os.ReadFile(f.path)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return exitWith(exitFailed, "%v", err)
		case !bytes.Equal(old, []byte(f.content)) && !force:
			conflicts = append(conflicts, f.path)
		}
	}
	if len(conflicts) > 0 {
		return exitWith(exitFailed, "%s already exists with other content; nothing was written. "+
			"Compare it with the output of the same command without --install, then add --force to replace it (or choose another --name)",
			strings.Join(conflicts, " and "))
	}
	if err := os.MkdirAll(sc.dir, 0o755); err != nil {
		return exitWith(exitFailed, "%v", err)
	}
	for _, f := range files {
		if old, err := os.ReadFile(f.path); err == nil && bytes.Equal(old, []byte(f.content)) {
			fmt.Fprintf(w, "Unchanged %s\n", f.path)
			continue
		}
		if err := atomicfile.WriteFile(f.path, []byte(f.content), 0o644); err != nil {
			return exitWith(exitFailed, "write %s: %v", f.path, err)
		}
		fmt.Fprintf(w, "Wrote %s\n", f.path)
	}
	sctl := sc.systemctl()
	fmt.Fprintf(w, "\nEnable the timer (smcfleet ran none of these):\n")
	fmt.Fprintf(w, "  %s daemon-reload\n  %s enable --now %s.timer\n", sctl, sctl, sc.unit)
	if !sc.system {
		fmt.Fprintf(w, "  loginctl enable-linger \"$USER\"    # so that it also runs while you are logged out\n")
	}
	fmt.Fprintf(w, "Check it:\n  %s list-timers %s.timer\n  %s start %s.service    # one run now\n  journalctl %s-u %s.service\n\n",
		sctl, sc.unit, sctl, sc.unit, map[bool]string{true: "", false: "--user "}[sc.system], sc.unit)
	sc.printSecrets(w)
	return nil
}
