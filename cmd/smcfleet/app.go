package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes. They are documented in the README; keep both in step.
const (
	exitOK          = 0
	exitFailed      = 1 // a host failed, or the input was invalid
	exitChanges     = 2 // with --detailed-exitcode: changes pending (plan) or made (apply)
	exitInterrupted = 130
)

// exitError carries an exit code through urfave/cli; its message (if any)
// has not been printed yet.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func exitWith(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// codeOnly returns an exit code whose reason has already been printed.
func codeOnly(code int) error { return &exitError{code: code} }

type streams struct {
	in       io.Reader
	out, err io.Writer
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := &streams{in: stdin, out: stdout, err: stderr}
	app := newApp(s)
	err := app.Run(interspersed(app, args))
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "Error: "+ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "Error: "+err.Error())
	return exitFailed
}

func newApp(s *streams) *cli.App {
	return &cli.App{
		Name:    "smcfleet",
		Usage:   "plan and apply changes on fleets of Cisco Secure Network Analytics Managers",
		Version: version,
		Description: `smcfleet runs HCL playbooks of steps on an inventory of SNA Managers over
SSH, SFTP and the Manager's HTTPS API. "plan" shows exactly what would change
on which host and changes nothing; "apply" makes the changes.

Exit codes: 0 success; 1 a host failed or the input was invalid;
2 (only with --detailed-exitcode) success with changes; 75 another apply
holds the run lock; 130 interrupted.`,
		Reader:                    s.in,
		Writer:                    s.out,
		ErrWriter:                 s.err,
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {},
		EnableBashCompletion:      true,
		Commands: []*cli.Command{
			validateCommand(s),
			planCommand(s),
			applyCommand(s),
			inventoryCommand(s),
			certsCommand(s),
			diagnoseCommand(s),
			smcCommand(s),
			sesCommand(s),
			playbooksCommand(s),
			labCommand(s),
			demoCommand(s),
			completionCommand(s),
			scheduleCommand(s),
		},
	}
}

func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
