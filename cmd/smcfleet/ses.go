package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/smcfleet/smcfleet/internal/sesauth"
	"github.com/smcfleet/smcfleet/internal/sshconn"
	"github.com/smcfleet/smcfleet/inventory"
)

// Secrets come from the environment or stdin, never from argv, where they
// would land in shell history and in every process listing.
const (
	secretKeyEnv    = "AWS_SECRET_ACCESS_KEY"
	smtpPasswordEnv = "SMCFLEET_SES_SMTP_PASSWORD"
)

const defaultSESRegion = "us-east-1"

func sesCommand(s *streams) *cli.Command {
	return &cli.Command{
		Name:  "ses",
		Usage: "Amazon SES SMTP: derive the SMTP password from an IAM key; send a test message as a Manager would",
		Subcommands: []*cli.Command{{
			Name:  "smtp-password",
			Usage: "print the SES SMTP password of an IAM secret access key (read from " + secretKeyEnv + " or stdin)",
			Description: `Derives the password with AWS's documented algorithm ("Obtaining Amazon SES SMTP
credentials"). The SMTP user name is the key's access key id. Passwords are
per region: one derived for another region fails with "535 Authentication
Credentials Invalid". The secret is read from ` + secretKeyEnv + ` or, when
that is unset, from stdin (asked for without echo on a terminal); it is
never accepted as an argument. Only the password is printed.

Examples:
   smcfleet ses smtp-password --region us-east-1 < secret-key.txt
   aws configure get aws_secret_access_key | smcfleet ses smtp-password --region eu-west-1`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "region", Required: true, EnvVars: env("SES_REGION"),
					Usage: "the `REGION` of the SES SMTP endpoint, e.g. us-east-1"},
			},
			Action: func(c *cli.Context) error { return runSMTPPassword(c, s) },
		}, {
			Name:  "test-send",
			Usage: "send a real message through the SES SMTP endpoint, from here or through a Manager, and classify a failure",
			Description: `Connects to email-smtp.<region>.amazonaws.com the way a Manager's SMTP
configuration does: STARTTLS on ports 25, 587 (default) and 2587, implicit
TLS (SMTPS) on 465 and 2465; verifies the certificate chain against the
system's roots or --ca-file; authenticates with AUTH PLAIN; sends one short
message. With --via HOST the connection leaves from that inventory host
(through its SSH connection, with the host's name resolution and network
path); otherwise from this machine (--resolve maps names here).

The password is read from ` + smtpPasswordEnv + ` or, when that is unset,
from stdin (asked for without echo on a terminal); never from an argument.

On delivery it prints "delivered: <SES message id>" and exits 0. Otherwise
it prints the class of failure and its fix (the procedure's troubleshooting
table), then the details, and exits 1: unverified identity (554), credentials
(535), untrusted chain, handshake, unreachable, STARTTLS refused, timeout,
rejected, protocol.

Examples:
   smcfleet ses test-send --from alerts@example.com --to soc@example.com --user AKIA... < smtp-password.txt
   smcfleet ses test-send -i inventory.hcl --via smc-01 --region eu-west-1 --port 465 \
       --from alerts@example.com --to soc@example.com --user AKIA... --ca-file ses-roots.pem --json`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "from", Required: true, EnvVars: env("SES_FROM"),
					Usage: "the From `ADDRESS`; it must be in an SES verified domain"},
				&cli.StringSliceFlag{Name: "to", Required: true, EnvVars: env("SES_TO"),
					Usage: "a recipient `ADDRESS` (repeatable); in the SES sandbox it must be verified too"},
				&cli.StringFlag{Name: "region", Value: defaultSESRegion, EnvVars: env("SES_REGION"),
					Usage: "the SES `REGION`: the endpoint is email-smtp.REGION.amazonaws.com"},
				&cli.IntFlag{Name: "port", Value: 587, EnvVars: env("SES_PORT"),
					Usage: "25, 587 or 2587 (STARTTLS); 465 or 2465 (implicit TLS)"},
				&cli.StringFlag{Name: "user", Required: true, EnvVars: env("SES_SMTP_USER"),
					Usage: "the SES SMTP user `NAME` (the access key id)"},
				&cli.StringFlag{Name: "ca-file", EnvVars: env("SES_CA_FILE"), TakesFile: true,
					Usage: "trust only the certificates in PEM `FILE` (default: the system's roots)"},
				&cli.StringFlag{Name: "via", EnvVars: env("SES_VIA"),
					Usage: "send from inventory `HOST` through its SSH connection (needs --inventory)"},
				inventoryFlag(false),
				&cli.BoolFlag{Name: "accept-new", EnvVars: env("ACCEPT_NEW"),
					Usage: "with --via: record an unknown SSH host key in known_hosts (a changed key is always refused)"},
				&cli.DurationFlag{Name: "connect-timeout", EnvVars: env("CONNECT_TIMEOUT"), Value: 15 * time.Second,
					Usage: "with --via: time limit to connect and authenticate to the host (inventory connect_timeout wins)"},
				&cli.DurationFlag{Name: "timeout", EnvVars: env("SES_TIMEOUT"), Value: 30 * time.Second,
					Usage: "time limit of the whole SMTP dialogue"},
				resolveFlag,
				&cli.BoolFlag{Name: "json", EnvVars: env("JSON"),
					Usage: `print {"ok", "class", "reply", "fix", "message_id", "detail"} as JSON`},
			},
			Action: func(c *cli.Context) error { return runTestSend(c, s) },
		}},
	}
}

func runSMTPPassword(c *cli.Context, s *streams) error {
	if c.NArg() > 0 {
		// Say nothing of what was given: it may be the secret.
		return exitWith(exitFailed, "smtp-password takes no arguments: the secret access key is read from %s or stdin, never from the command line", secretKeyEnv)
	}
	region, err := sesauth.NormalizeRegion(c.String("region"))
	if err != nil {
		return exitWith(exitFailed, "--region: %v", err)
	}
	secret := os.Getenv(secretKeyEnv)
	if secret == "" {
		if secret, err = readSecret(s, "AWS secret access key: "); err != nil {
			return exitWith(exitFailed, "%v (set %s or pipe the key on stdin)", err, secretKeyEnv)
		}
	}
	password, err := sesauth.SMTPPassword(secret, region)
	if err != nil {
		return exitWith(exitFailed, "%v", err)
	}
	if !sesauth.KnownRegion(region) {
		fmt.Fprintf(s.err, "Warning: %s is not in smcfleet's list of regions with an SES SMTP endpoint; the password is only of use where SES has one\n", region)
	}
	fmt.Fprintln(s.out, password)
	return nil
}

// readSecret reads one line from stdin, without echo and after a prompt on
// a terminal.
func readSecret(s *streams, prompt string) (string, error) {
	if f, ok := s.in.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(s.err, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(s.err)
		if err != nil {
			return "", fmt.Errorf("read from the terminal: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := bufio.NewReader(io.LimitReader(s.in, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	if line = strings.TrimSpace(line); line == "" {
		return "", errors.New("nothing on stdin")
	}
	return line, nil
}

func runTestSend(c *cli.Context, s *streams) error {
	if c.NArg() > 0 {
		return exitWith(exitFailed, "test-send takes no arguments: the SMTP password is read from %s or stdin, never from the command line", smtpPasswordEnv)
	}
	region := c.String("region")
	if region == "" {
		// An empty SMCFLEET_SES_REGION overrides the default in urfave/cli.
		region = defaultSESRegion
	}
	region, err := sesauth.NormalizeRegion(region)
	if err != nil {
		return exitWith(exitFailed, "--region: %v", err)
	}
	implicitTLS, err := sesauth.PortMode(c.Int("port"))
	if err != nil {
		return exitWith(exitFailed, "--port: %v", err)
	}
	var roots *x509.CertPool
	if f := c.String("ca-file"); f != "" {
		if roots, err = loadRoots(f); err != nil {
			return exitWith(exitFailed, "--ca-file: %v", err)
		}
	}
	via := c.String("via")
	if via != "" && c.String("inventory") == "" {
		return exitWith(exitFailed, "--via %s: give the inventory that defines it (-i FILE)", via)
	}
	password := os.Getenv(smtpPasswordEnv)
	if password == "" {
		if password, err = readSecret(s, "SES SMTP password: "); err != nil {
			return exitWith(exitFailed, "%v (set %s or pipe the password on stdin)", err, smtpPasswordEnv)
		}
	}

	ctx, stop := interruptible(s)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.Duration("timeout"))
	defer cancel()

	var dial func(ctx context.Context, network, addr string) (net.Conn, error)
	from := "this machine"
	if via != "" {
		client, err := dialInventoryHost(ctx, c, c.String("inventory"), via)
		if err != nil {
			return printSendResult(c, s, &sesauth.Result{Class: "ssh", Reply: err.Error(),
				Fix:    "check the inventory entry of " + via + " and SSH access to it (smcfleet inventory)",
				Detail: "connect to " + via + ": " + err.Error()})
		}
		defer client.Close()
		dial, from = client.DialContext, via
	} else {
		// --resolve is for connections from here; through --via the
		// Manager resolves the name, as its Response Management does.
		if dial, err = controllerDialer(c.StringSlice("resolve")); err != nil {
			return exitWith(exitFailed, "--resolve: %v", err)
		}
	}
	endpoint := net.JoinHostPort(sesauth.Endpoint(region), strconv.Itoa(c.Int("port")))
	res, err := sesauth.Send(ctx, sesauth.Options{
		Addr:        endpoint,
		ImplicitTLS: implicitTLS,
		RootCAs:     roots,
		Username:    c.String("user"),
		Password:    password,
		From:        c.String("from"),
		To:          c.StringSlice("to"),
		Body:        fmt.Sprintf("This test message was sent by smcfleet ses test-send from %s through %s.", from, endpoint),
		Dial:        dial,
	})
	if err != nil {
		return exitWith(exitFailed, "%v", err)
	}
	if !res.OK && from != "this machine" {
		res.Detail = "from " + from + ": " + res.Detail
	}
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) && !res.OK {
		return codeOnly(exitInterrupted)
	}
	return printSendResult(c, s, res)
}

// printSendResult prints the verdict (and the details of a failure) and
// returns the exit code: 0 only on delivery.
func printSendResult(c *cli.Context, s *streams, res *sesauth.Result) error {
	if c.Bool("json") {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else if res.OK {
		fmt.Fprintln(s.out, res.Summary())
	} else {
		summary := res.Summary()
		if res.Class == "ssh" {
			summary = "ssh: " + res.Fix
		}
		fmt.Fprintln(s.out, summary)
		fmt.Fprintf(s.out, "  detail: %s\n", res.Detail)
	}
	if !res.OK {
		return codeOnly(exitFailed)
	}
	return nil
}

// loadRoots reads the PEM certificates of a CA file.
func loadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// dialInventoryHost makes one SSH connection to an inventory host, through
// its jump hosts and with its host key verified, as newDialer does for a
// run.
func dialInventoryHost(ctx context.Context, c *cli.Context, invPath, name string) (*sshconn.Client, error) {
	inv, diags := inventory.Load(invPath, inventory.LoadOptions{})
	if diags.HasErrors() {
		return nil, fmt.Errorf("inventory %s: %s", invPath, diags.Error())
	}
	h := inv.Host(name)
	if h == nil {
		return nil, fmt.Errorf("no host %q in %s", name, invPath)
	}
	passphrase := sshconn.PassphraseFromEnvOrTerminal(passphraseEnv)
	cfg := sshConfig(h, c.Bool("accept-new"), c.Duration("connect-timeout"), passphrase)
	hops, err := inv.JumpChain(h)
	if err != nil {
		return nil, err
	}
	for _, hop := range hops {
		cfg.Jump = append(cfg.Jump, sshConfig(hop, c.Bool("accept-new"), c.Duration("connect-timeout"), passphrase))
	}
	return sshconn.Dial(ctx, cfg)
}
