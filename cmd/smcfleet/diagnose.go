package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/urfave/cli/v2"

	"github.com/smcfleet/smcfleet/playbooks"
	"github.com/smcfleet/smcfleet/runner"
)

// diagnosePlaybook is the bundled playbook behind "smcfleet diagnose".
const diagnosePlaybook = "diagnose"

func diagnoseCommand(s *streams) *cli.Command {
	return &cli.Command{
		Name:  "diagnose",
		Usage: "name, per host, the Test Action errors in sw-response-mgmt's log, with their fix (changes nothing)",
		Description: `Runs the bundled "diagnose" playbook (smcfleet playbooks show diagnose): it reads
the tail of /lancope/var/logs/containers/sw-reponse-mgmt.log (and of
sw-response-mgmt.log, the other spelling, and their rotations .1 to .3) over
SFTP on every Manager, and matches it against the troubleshooting table of
Cisco's SES procedure. It prints one table for the fleet: per host each error
of the table found, how often, when last, the fix and the smcfleet command
that applies it; other errors are "unknown" (open a TAC case).

Exit codes: 0 when every host was read (errors found in logs are data);
1 when a host failed or was unreachable; 130 interrupted.

Examples:
   smcfleet diagnose -i inventory.hcl
   smcfleet diagnose -i inventory.hcl --limit smc-02 --since 24h
   smcfleet diagnose -i inventory.hcl --since 7d --json`,
		Flags: []cli.Flag{
			inventoryFlag(true), limitFlag,
			&cli.StringFlag{Name: "since", EnvVars: env("SINCE"),
				Usage: "only errors logged within `DURATION` (24h, 90m, 7d); default: everything in the last MiB of each log"},
			&cli.StringSliceFlag{Name: "var", EnvVars: env("VARS"),
				Usage: "set a variable of the diagnose playbook: `NAME=VALUE` (tail_bytes=4194304)"},
			&cli.IntFlag{Name: "forks", Aliases: []string{"f"}, EnvVars: env("FORKS"), Value: runner.DefaultForks, Usage: "hosts at once"},
			&cli.DurationFlag{Name: "step-timeout", EnvVars: env("STEP_TIMEOUT"), Value: runner.DefaultStepTimeout, Usage: "time limit per host"},
			&cli.DurationFlag{Name: "connect-timeout", EnvVars: env("CONNECT_TIMEOUT"), Value: 15e9, Usage: "SSH connect limit"},
			&cli.BoolFlag{Name: "accept-new", EnvVars: env("ACCEPT_NEW"), Usage: "record unknown SSH host keys"},
			jsonFlag, noColorFlag,
		},
		Action: func(c *cli.Context) error { return runDiagnose(c, s) },
	}
}

func runDiagnose(c *cli.Context, s *streams) error {
	if c.NArg() > 0 {
		return exitWith(exitFailed, "diagnose takes no argument (got %q); see --help", c.Args().First())
	}
	since := strings.TrimSpace(c.String("since"))
	if since != "" {
		if _, err := runner.ParseLogSince(since); err != nil {
			return exitWith(exitFailed, "--since: %v", err)
		}
		// The playbook's variable, after any --var: the flag wins.
		if err := c.Set("var", "since="+since); err != nil {
			return exitWith(exitFailed, "--since: %v", err)
		}
	}
	rep, err := readOnlyRun(c, s, func(kinds runner.Registry) (*playbooks.Playbook, hcl.Diagnostics) {
		return playbooks.LoadFS(playbooks.Bundled, diagnosePlaybook, playbooks.Options{Kinds: kinds.Schemas()})
	})
	if err != nil {
		return err
	}
	view := diagnoseView(rep, since)
	return showView(c, s, rep, view, func() { writeDiagnosis(s.out, view) })
}

// DiagnoseView is the JSON document of "diagnose".
type DiagnoseView struct {
	FormatVersion string             `json:"format_version"`
	Since         string             `json:"since,omitempty"`
	Hosts         []DiagnoseHostView `json:"hosts"`
}

// DiagnoseHostView is one host: what its log says, or why it could not be
// read.
type DiagnoseHostView struct {
	Name     string            `json:"name"`
	Address  string            `json:"address"`
	Status   string            `json:"status"` // ok, failed, unreachable, interrupted
	Error    string            `json:"error,omitempty"`
	Missing  bool              `json:"missing"`
	Files    []string          `json:"files"`
	Findings []DiagnoseFinding `json:"findings"`
	Unknown  []DiagnoseUnknown `json:"unknown"`
	Warnings []string          `json:"warnings,omitempty"`
}

// DiagnoseFinding is one error of the procedure's table found in a log.
type DiagnoseFinding struct {
	Name   string `json:"name"`
	Count  int    `json:"count"`
	Last   string `json:"last"` // RFC 3339, or "" when the line has no timestamp
	Sample string `json:"sample"`
	Fix    string `json:"fix"`
	Remedy string `json:"remedy"`
}

// DiagnoseUnknown is a group of similar errors that the table does not
// name.
type DiagnoseUnknown struct {
	Count  int    `json:"count"`
	Last   string `json:"last"`
	Sample string `json:"sample"`
	Fix    string `json:"fix"`
}

func diagnoseView(rep *runner.Report, since string) DiagnoseView {
	v := DiagnoseView{FormatVersion: "1", Since: since, Hosts: []DiagnoseHostView{}}
	for _, h := range rep.Hosts {
		hv := DiagnoseHostView{Name: h.Name, Address: h.Address, Status: h.Status, Error: h.Error,
			Files: []string{}, Findings: []DiagnoseFinding{}, Unknown: []DiagnoseUnknown{}}
		if hv.Status == runner.HostChanged {
			hv.Status = runner.HostOK // a read-only playbook: never the case
		}
		for _, st := range h.Steps {
			if st.Kind != "log_scan" {
				continue
			}
			if st.Error != "" {
				hv.Error = st.Error
			}
			hv.Warnings = append(hv.Warnings, st.Warnings...)
			if st.Outputs == nil {
				continue
			}
			var out struct {
				Files    []string          `json:"files"`
				Findings []DiagnoseFinding `json:"findings"`
				Unknown  []DiagnoseUnknown `json:"unknown"`
				Missing  bool              `json:"missing"`
			}
			b, _ := json.Marshal(st.Outputs)
			if err := json.Unmarshal(b, &out); err != nil {
				hv.Error = "unexpected outputs of the log_scan step: " + err.Error()
				continue
			}
			hv.Files = append(hv.Files, out.Files...)
			hv.Findings = append(hv.Findings, out.Findings...)
			hv.Unknown = append(hv.Unknown, out.Unknown...)
			hv.Missing = out.Missing
		}
		for i := range hv.Unknown {
			if hv.Unknown[i].Fix == "" {
				hv.Unknown[i].Fix = "open a TAC case"
			}
		}
		v.Hosts = append(v.Hosts, hv)
	}
	return v
}

func writeDiagnosis(w io.Writer, v DiagnoseView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tERROR\tCOUNT\tLAST\tFIX")
	var known, unknown, clean, failed int
	for _, h := range v.Hosts {
		switch {
		case h.Error != "" || (h.Status != runner.HostOK && h.Status != runner.HostChanged):
			failed++
			msg := h.Error
			if msg == "" {
				msg = "not run"
			}
			// The message goes last: it does not widen the columns.
			fmt.Fprintf(tw, "%s\thost %s\t-\t-\t%s\n", h.Name, h.Status, firstLine(msg))
			continue
		case h.Missing:
			clean++
			fmt.Fprintf(tw, "%s\tlog not found (checked both spellings)\t-\t-\t-\n", h.Name)
			continue
		case len(h.Findings) == 0 && len(h.Unknown) == 0:
			clean++
			fmt.Fprintf(tw, "%s\tno known error\t-\t-\t-\n", h.Name)
			continue
		}
		if len(h.Findings) > 0 {
			known++
		}
		if len(h.Unknown) > 0 {
			unknown++
		}
		for _, f := range h.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", h.Name, f.Name, f.Count, orDash(f.Last), f.Fix)
			if f.Remedy != "" {
				fmt.Fprintf(tw, "\t\t\t\t  remedy: %s\n", f.Remedy)
			}
		}
		for _, u := range h.Unknown {
			// The sample goes under FIX, the one column it does not widen.
			fmt.Fprintf(tw, "%s\tunknown error (%d×)\t%d\t%s\t%s\n", h.Name, u.Count, u.Count, orDash(u.Last), u.Fix)
			fmt.Fprintf(tw, "\t\t\t\t  sample: %s\n", shortSample(u.Sample))
		}
	}
	tw.Flush()
	for _, h := range v.Hosts {
		for _, warn := range h.Warnings {
			fmt.Fprintf(w, "%s: warning: %s\n", h.Name, warn)
		}
	}
	window := ""
	if v.Since != "" {
		window = " (errors of the last " + v.Since + ")"
	}
	fmt.Fprintf(w, "\nDiagnosis: %d hosts, %d with known errors, %d with unknown errors, %d without errors, %d failed%s.\n",
		len(v.Hosts), known, unknown, clean, failed, window)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// logPrefix is the start of a Java log line: timestamp, level, [thread],
// logger and " - ".
var logPrefix = regexp.MustCompile(`^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\s+(?:(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|SEVERE)\s+)?(?:\[[^\]]*\]\s+)?(?:[\w.$]+\s+-\s+)?`)

// shortSample is a log line as a table cell: without the timestamp and
// logger prefix, at most 100 characters.
func shortSample(s string) string {
	s = strings.TrimSpace(logPrefix.ReplaceAllString(s, ""))
	if utf8.RuneCountInString(s) > 100 {
		s = string([]rune(s)[:99]) + "…"
	}
	return s
}
