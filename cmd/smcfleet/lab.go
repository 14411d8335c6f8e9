package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/smcfleet/smcfleet/internal/lab"
	"github.com/smcfleet/smcfleet/playbooks"
)

func labCommand(s *streams) *cli.Command {
	return &cli.Command{
		Name:  "lab",
		Usage: "run a simulated fleet of SNA Managers on loopback, to rehearse a rollout",
		Subcommands: []*cli.Command{{
			Name:  "up",
			Usage: "start the simulated fleet in the foreground until interrupted",
			Description: `Starts N simulated Managers (smc-01…) on 127.0.0.1 and writes DIR/inventory.hcl,
ready for plan and apply. Prints one "ready" line when every service listens;
Ctrl-C or SIGTERM stops everything. Needs no root and no network.

Examples:
   smcfleet lab up --hosts 5 --dir ./lab
   smcfleet plan -i ./lab/inventory.hcl playbooks/examples/tls-ciphers.hcl`,
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "hosts", Aliases: []string{"n"}, Value: 3, EnvVars: env("LAB_HOSTS"), Usage: "number of Managers"},
				labDirFlag(),
				&cli.StringFlag{Name: "region", Value: "us-east-1", EnvVars: env("LAB_REGION"), Usage: "region of the simulated SES"},
				&cli.BoolFlag{Name: "legacy-dhe", EnvVars: env("LAB_LEGACY_DHE"), Usage: "start the simulated SES offering 1024-bit DHE, as AWS did (needs openssl)"},
			},
			Action: func(c *cli.Context) error {
				ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				l, err := lab.Start(ctx, lab.Options{Hosts: c.Int("hosts"), Dir: c.String("dir"), Region: c.String("region"), LegacyDHE: c.Bool("legacy-dhe")})
				if err != nil {
					return exitWith(exitFailed, "%v", err)
				}
				defer l.Close()
				ctrl := make(chan error, 1)
				go func() { ctrl <- l.ServeControl(ctx) }()
				fmt.Fprintf(s.out, "ready: %d hosts; inventory %s; SES variables %s; SES %s (STARTTLS %s, SMTPS %s)\n",
					len(l.Hosts), l.InventoryPath(), l.VarsPath(), l.SES().EndpointName(), l.SES().STARTTLSAddr(), l.SES().SMTPSAddr())
				select {
				case <-ctx.Done():
				case err := <-ctrl:
					if err != nil {
						return exitWith(exitFailed, "%v", err)
					}
				}
				fmt.Fprintln(s.err, "stopping the lab")
				return nil
			},
		}, {
			Name:      "test-action",
			Usage:     "make a simulated Manager's sw-response-mgmt send a test e-mail (Response Management \"Test Action\")",
			ArgsUsage: "HOST",
			Description: `Uses the SMTP settings, trust store and cipher list the host's sw-response-mgmt
loaded at its last restart. On failure the Manager's log gets the line the
procedure's troubleshooting table quotes. Exits 1 when the message was not
delivered.

Example:
   smcfleet lab test-action --dir ./lab smc-01`,
			Flags: []cli.Flag{labDirFlag(), jsonFlag},
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return exitWith(exitFailed, "give one HOST")
				}
				ctl, err := lab.DialControl(c.String("dir"))
				if err != nil {
					return exitWith(exitFailed, "%v", err)
				}
				res, err := ctl.TestAction(c.Context, c.Args().First())
				if err != nil {
					return exitWith(exitFailed, "%v", err)
				}
				if c.Bool("json") {
					enc := json.NewEncoder(s.out)
					enc.SetIndent("", "  ")
					enc.Encode(res)
				} else if res.OK {
					fmt.Fprintf(s.out, "%s: test e-mail delivered (SES message id %s)\n", res.Host, res.MessageID)
				} else {
					fmt.Fprintf(s.out, "%s: test e-mail failed: %s\n", res.Host, res.Error)
				}
				if !res.OK {
					return codeOnly(exitFailed)
				}
				return nil
			},
		}, {
			Name:  "stats",
			Usage: "print the per-host counters of a running lab as JSON (connections, sessions, commands, SFTP requests, API requests)",
			Description: `What bench/fleet.sh reads before and after a run to count connections and
round trips per host.

Example:
   smcfleet lab stats --dir ./lab`,
			Flags: []cli.Flag{labDirFlag()},
			Action: func(c *cli.Context) error {
				ctl, err := lab.DialControl(c.String("dir"))
				if err != nil {
					return exitWith(exitFailed, "%v", err)
				}
				st, err := ctl.Stats(c.Context)
				if err != nil {
					return exitWith(exitFailed, "%v", err)
				}
				enc := json.NewEncoder(s.out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			},
		}, {
			Name:      "ses",
			Usage:     "switch the simulated SES's legacy-DHE mode: legacy-dhe on|off",
			ArgsUsage: "legacy-dhe on|off",
			Description: `In legacy-DHE mode the simulated SES offers a 1024-bit DHE group to clients
that prefer DHE, as AWS did: the Managers' default cipher list then fails
with "dh key too small" (see the dh-cipher-fix playbook).

Examples:
   smcfleet lab ses --dir ./lab legacy-dhe on
   smcfleet certs probe -i ./lab/inventory.hcl --endpoint email-smtp.us-east-1.amazonaws.com:587`,
			Flags: []cli.Flag{labDirFlag()},
			Action: func(c *cli.Context) error {
				if c.Args().Get(0) != "legacy-dhe" || (c.Args().Get(1) != "on" && c.Args().Get(1) != "off") {
					return exitWith(exitFailed, "usage: smcfleet lab ses --dir DIR legacy-dhe on|off")
				}
				ctl, err := lab.DialControl(c.String("dir"))
				if err != nil {
					return exitWith(exitFailed, "%v", err)
				}
				if err := ctl.SetLegacyDHE(c.Context, c.Args().Get(1) == "on"); err != nil {
					return exitWith(exitFailed, "%v", err)
				}
				fmt.Fprintf(s.out, "SES legacy-DHE %s\n", c.Args().Get(1))
				return nil
			},
		}, {
			Name:      "fault",
			Usage:     "switch a fault on (or off) on a simulated Manager",
			ArgsUsage: "HOST KIND [VALUE|off]",
			Description: "Kinds: " + strings.Join(lab.Faults, ", ") + `.
VALUE is a duration for slow, a byte count for drop-transfer, a count for
api-409 and api-5xx; "off" switches the fault off.

Examples:
   smcfleet lab fault --dir ./lab smc-02 down
   smcfleet lab fault --dir ./lab smc-02 down off
   smcfleet lab fault --dir ./lab smc-03 slow 3s`,
			Flags: []cli.Flag{labDirFlag()},
			Action: func(c *cli.Context) error {
				if c.NArg() < 2 {
					return exitWith(exitFailed, "give HOST and KIND")
				}
				ctl, err := lab.DialControl(c.String("dir"))
				if err != nil {
					return exitWith(exitFailed, "%v", err)
				}
				value := c.Args().Get(2)
				if err := ctl.SetFault(c.Context, c.Args().Get(0), c.Args().Get(1), value); err != nil {
					return exitWith(exitFailed, "%v", err)
				}
				state := "on"
				if value != "" {
					state = value
				}
				fmt.Fprintf(s.out, "%s: %s %s\n", c.Args().Get(0), c.Args().Get(1), state)
				return nil
			},
		}},
	}
}

func labDirFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "dir", Aliases: []string{"d"}, Value: "smcfleet-lab", EnvVars: env("LAB_DIR"), Usage: "the directory of a running lab"}
}

func demoCommand(s *streams) *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run the main job against a built-in simulated fleet of three Managers",
		Description: `Starts three simulated Managers on loopback in a temporary directory, then runs
validate, plan and apply of the example playbook, shows that a second plan
has no changes, and tears everything down. Needs no root, no network and no
set-up.

Example:
   smcfleet demo`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "keep", EnvVars: env("DEMO_KEEP"), Usage: "keep the temporary directory for inspection"},
			noColorFlag,
		},
		Action: func(c *cli.Context) error {
			return runDemo(c, s)
		},
	}
}

func runDemo(c *cli.Context, s *streams) error {
	dir, err := os.MkdirTemp("", "smcfleet-demo-")
	if err != nil {
		return err
	}
	if c.Bool("keep") {
		defer fmt.Fprintf(s.out, "\nThe demo's files are kept in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	say := func(format string, args ...any) { fmt.Fprintf(s.out, "\n==> "+format+"\n", args...) }
	say("Starting a simulated fleet of 3 Managers in %s", dir)
	l, err := lab.Start(ctx, lab.Options{Hosts: 3, Dir: filepath.Join(dir, "lab")})
	if err != nil {
		return exitWith(exitFailed, "%v", err)
	}
	defer l.Close()

	pbDir := filepath.Join(dir, "playbooks")
	if err := exportExamples(pbDir); err != nil {
		return err
	}
	pb := filepath.Join(pbDir, "tls-ciphers.hcl")
	inv := l.InventoryPath()
	common := []string{"-i", inv}
	if c.Bool("no-color") {
		common = append(common, "--no-color")
	}
	steps := []struct {
		title    string
		args     []string
		wantCode int
	}{
		{"smcfleet validate " + pb, []string{"validate", pb}, exitOK},
		{"smcfleet plan -i inventory.hcl tls-ciphers.hcl   (changes nothing)", append(append([]string{"plan"}, common...), pb), exitOK},
		{"smcfleet apply -i inventory.hcl --auto-approve tls-ciphers.hcl", append(append([]string{"apply", "--auto-approve"}, common...), pb), exitOK},
		{"smcfleet plan -i inventory.hcl --detailed-exitcode tls-ciphers.hcl   (a second run changes nothing: exit 0)", append(append([]string{"plan", "--detailed-exitcode"}, common...), pb), exitOK},
	}
	for _, st := range steps {
		say("%s", st.title)
		if code := run(append([]string{"smcfleet"}, st.args...), s.in, s.out, s.err); code != st.wantCode {
			return exitWith(exitFailed, "demo: %q exited %d, want %d", st.title, code, st.wantCode)
		}
	}
	say("smcfleet apply -i inventory.hcl --var-file ses.vars.hcl --var configure_smtp=true --auto-approve ses-smtp   (the whole SES procedure)")
	sesArgs := append(append([]string{"apply", "--auto-approve", "--var-file", l.VarsPath(), "--var", "configure_smtp=true"}, common...), "ses-smtp")
	if code := run(append([]string{"smcfleet"}, sesArgs...), s.in, s.out, s.err); code != exitOK {
		return exitWith(exitFailed, "demo: the ses-smtp apply exited %d", code)
	}
	say("smcfleet plan -i inventory.hcl --var-file ses.vars.hcl --var configure_smtp=true --detailed-exitcode ses-smtp   (nothing left to do: exit 0)")
	sesPlan := append(append([]string{"plan", "--detailed-exitcode", "--var-file", l.VarsPath(), "--var", "configure_smtp=true"}, common...), "ses-smtp")
	if code := run(append([]string{"smcfleet"}, sesPlan...), s.in, s.out, s.err); code != exitOK {
		return exitWith(exitFailed, "demo: the second ses-smtp plan exited %d, want 0", code)
	}
	say("The manual step, simulated: Response Management \"Test Action\" on every Manager")
	for _, h := range l.Hosts {
		res := l.TestAction(ctx, h)
		if !res.OK {
			return exitWith(exitFailed, "demo: test action on %s failed: %s", h.Name, res.Error)
		}
		fmt.Fprintf(s.out, "%s: test e-mail delivered through the simulated SES (message id %s)\n", h.Name, res.MessageID)
	}

	say("What the fleet saw")
	for _, h := range l.Hosts {
		ct, _ := h.Manager.Container(lab.ResponseContainer)
		dhe := lab.AllowsDHE(ct.Ciphers)
		fmt.Fprintf(s.out, "%s: %s restarted %d time(s); cipher list in use allows DHE: %t; original kept in %s.bak\n",
			h.Name, lab.ResponseContainer, ct.RestartCount, dhe, lab.CiphersPath)
	}
	say("Done; the simulated fleet is stopped")
	return nil
}

// exportExamples writes the embedded example playbooks into dir.
func exportExamples(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(playbooks.Examples, "examples", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(playbooks.Examples, p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644)
	})
}
