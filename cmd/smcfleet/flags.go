package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/smcfleet/smcfleet/runner"
)

func env(name string) []string { return []string{"SMCFLEET_" + name} }

func inventoryFlag(required bool) *cli.StringFlag {
	return &cli.StringFlag{
		Name: "inventory", Aliases: []string{"i"}, EnvVars: env("INVENTORY"),
		Usage: "inventory `FILE` (HCL, or an Ansible INI inventory)", Required: required, TakesFile: true,
	}
}

var limitFlag = &cli.StringFlag{
	Name: "limit", Aliases: []string{"l"}, EnvVars: env("LIMIT"),
	Usage: "hosts to target: names, globs (smc-*) and groups, comma-separated; prefix ! to exclude",
}

var jsonFlag = &cli.BoolFlag{
	Name: "json", EnvVars: env("JSON"),
	Usage: "print a machine-readable JSON document (schema: runner/schema/report.v1.json) instead of text",
}

var noColorFlag = &cli.BoolFlag{
	Name: "no-color", EnvVars: []string{"SMCFLEET_NO_COLOR", "NO_COLOR"},
	Usage: "never colour the output (it is coloured only on a terminal anyway)",
}

// runFlags are shared by plan and apply.
func runFlags() []cli.Flag {
	return runFlagsWith(true)
}

// runFlagsWith is runFlags with the inventory optional (apply of a saved
// plan takes it from the plan).
func runFlagsWith(requireInventory bool) []cli.Flag {
	return []cli.Flag{
		inventoryFlag(requireInventory),
		limitFlag,
		&cli.StringSliceFlag{
			Name: "var", EnvVars: env("VARS"),
			Usage: "set a playbook variable: `NAME=VALUE` (repeatable; wins over every other source)",
		},
		&cli.StringSliceFlag{
			Name: "var-file", EnvVars: env("VAR_FILES"), TakesFile: true,
			Usage: "read variables from an HCL or JSON `FILE` (repeatable)",
		},
		&cli.IntFlag{
			Name: "forks", Aliases: []string{"f"}, EnvVars: env("FORKS"), Value: runner.DefaultForks,
			Usage: "how many hosts to work on at once",
		},
		&cli.StringFlag{
			Name: "out", EnvVars: env("OUT"), TakesFile: true,
			Usage: "also write the plan or report as JSON to `FILE` (written atomically)",
		},
		jsonFlag,
		&cli.BoolFlag{
			Name: "detailed-exitcode", EnvVars: env("DETAILED_EXITCODE"),
			Usage: "exit 2 when there are changes (plan: pending; apply: made), 0 when none",
		},
		&cli.BoolFlag{
			Name: "accept-new", EnvVars: env("ACCEPT_NEW"),
			Usage: "record unknown SSH host keys in known_hosts (a changed key is always refused)",
		},
		&cli.DurationFlag{
			Name: "step-timeout", EnvVars: env("STEP_TIMEOUT"), Value: runner.DefaultStepTimeout,
			Usage: "time limit of a step that sets no timeout of its own",
		},
		&cli.DurationFlag{
			Name: "connect-timeout", EnvVars: env("CONNECT_TIMEOUT"), Value: 15 * time.Second,
			Usage: "time limit to connect and authenticate to a host (inventory connect_timeout wins)",
		},
		resolveFlag,
		&cli.StringFlag{
			Name: "report", EnvVars: env("REPORT"), TakesFile: true,
			Usage: "write the JSON report (the --json document) to `FILE`, atomically",
		},
		&cli.StringFlag{
			Name: "log", EnvVars: env("LOG"), TakesFile: true,
			Usage: "also append everything printed, without colour, to `FILE`",
		},
		&cli.BoolFlag{
			Name: "quiet", Aliases: []string{"q"}, EnvVars: env("QUIET"),
			Usage: "print only changes, warnings and failures (a run with nothing to report prints nothing)",
		},
		noColorFlag,
	}
}

var resolveFlag = &cli.StringSliceFlag{
	Name: "resolve", EnvVars: env("RESOLVE"),
	Usage: "connect HOST:PORT to ADDRESS instead, for steps that connect from the controller: `HOST:PORT:ADDRESS` (repeatable, or comma-separated)",
}

// applyFlags are apply's own: the rollout, rollback and resume.
func applyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{
			Name: "auto-approve", EnvVars: env("AUTO_APPROVE"),
			Usage: "apply without asking (required when stdin is not a terminal)",
		},
		&cli.StringFlag{
			Name: "batch", EnvVars: env("BATCH"),
			Usage: "apply in batches of `N` hosts or N% of the selected hosts, in inventory order; a batch starts when the one before it has finished (playbook block: batch)",
		},
		&cli.StringFlag{
			Name: "max-fail", EnvVars: env("MAX_FAIL"),
			Usage: "start no further batch once more than `N` hosts (or N% of the selected hosts) failed, were unreachable, rolled back or drifted (playbook block: max_fail)",
		},
		&cli.StringFlag{
			Name: "canary", EnvVars: env("CANARY"),
			Usage: "apply to the first `N` hosts alone first; any failure among them stops the rollout (playbook block: canary)",
		},
		&cli.DurationFlag{
			Name: "pause", EnvVars: env("PAUSE"),
			Usage: "wait `DURATION` between batches (Ctrl-C stops the rollout) (playbook block: pause)",
		},
		&cli.BoolFlag{
			Name: "no-rollback", EnvVars: env("NO_ROLLBACK"),
			Usage: "leave a host whose step failed as it is, instead of reverting this run's changes on it",
		},
		&cli.StringFlag{
			Name: "lock-file", EnvVars: env("LOCK_FILE"), TakesFile: true,
			Usage: "the run lock: a second apply while one holds it exits at once with code 75 (default ~/.cache/smcfleet/run.lock, as root /run/lock/smcfleet.lock)",
		},
		&cli.StringFlag{
			Name: "resume", EnvVars: env("RESUME"), TakesFile: true,
			Usage: "skip the hosts that the apply report `REPORT.json` (from --out or --json) shows as completed (ok or changed)",
		},
	}
}
