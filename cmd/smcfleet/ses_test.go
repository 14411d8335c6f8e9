package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/smcfleet/smcfleet/internal/lab"
	"github.com/smcfleet/smcfleet/internal/sesauth"
)

// sesLab is a running lab with what test-send needs from it: the SMTP
// credentials, the SES roots in a CA file, and the --resolve rules.
type sesLab struct {
	l              *lab.Lab
	user, password string
	caFile         string
	resolve        string
}

func startSESLab(t *testing.T) *sesLab {
	t.Helper()
	dir := t.TempDir()
	l, err := lab.Start(context.Background(), lab.Options{Hosts: 1, Dir: filepath.Join(dir, "lab")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	sl := &sesLab{l: l, caFile: filepath.Join(dir, "ses-roots.pem")}
	sl.user, sl.password = l.SMTPCredentials()
	if err := os.WriteFile(sl.caFile, l.SESChain().RootsPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(l.ResolvePath())
	if err != nil {
		t.Fatal(err)
	}
	sl.resolve = strings.TrimSpace(string(b))
	// The variables file is what an operator has; it must agree.
	vars, err := os.ReadFile(l.VarsPath())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^smtp_user\s*=\s*"` + regexp.QuoteMeta(sl.user) + `"$`).Match(vars) {
		t.Fatalf("ses.vars.hcl does not hold the SMTP user:\n%s", vars)
	}
	return sl
}

// sendArgs are the arguments of a test-send that delivers, from the
// controller.
func (sl *sesLab) sendArgs(extra ...string) []string {
	args := []string{"smcfleet", "ses", "test-send", "--from", "alerts@" + lab.VerifiedDomain, "--to", lab.LabRecipient,
		"--user", sl.user, "--ca-file", sl.caFile, "--resolve", sl.resolve, "--timeout", "20s"}
	return append(args, extra...)
}

// via are the arguments that send from smc-01 through its SSH connection.
func (sl *sesLab) via() []string {
	return []string{"--via", "smc-01", "-i", sl.l.InventoryPath()}
}

func runSES(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestSESTestSendLab(t *testing.T) {
	t.Setenv(smtpPasswordEnv, "")
	t.Setenv("SMCFLEET_RESOLVE", "")
	sl := startSESLab(t)
	ses := sl.l.SES()
	lastID := func() string {
		msgs := ses.Messages()
		if len(msgs) == 0 {
			return ""
		}
		return msgs[len(msgs)-1].ID
	}

	tests := []struct {
		name     string
		args     []string
		password string
		code     int
		stdout   string // regexp
		listener string // of the delivered message
	}{
		{"STARTTLS from the controller", sl.sendArgs(), sl.password, 0, `^delivered: 0100[0-9a-f]{12}-[0-9a-f-]+-000000\n$`, "starttls"},
		{"SMTPS from the controller", sl.sendArgs("--port", "465"), sl.password, 0, `^delivered: `, "smtps"},
		{"STARTTLS through smc-01", append(sl.sendArgs("--port", "2587"), sl.via()...), sl.password, 0, `^delivered: `, "starttls"},
		{"SMTPS through smc-01", append(sl.sendArgs("--port", "2465"), sl.via()...), sl.password, 0, `^delivered: `, "smtps"},
		{"554 unverified From", sl.sendArgs("--from", "alerts@unverified.example"), sl.password, 1,
			`^unverified identity: use a From address in an SES verified domain\n  detail: .*554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: alerts@unverified.example\n$`, ""},
		{"535 bad password through smc-01", append(sl.sendArgs(), sl.via()...), "not-the-password", 1,
			`^credentials: create new SES SMTP credentials \(smcfleet ses smtp-password derives the password from an IAM key\)\n  detail: from smc-01: .*535 Authentication Credentials Invalid`, ""},
		{"untrusted chain", sl.sendArgs("--ca-file", filepath.Join(sl.l.Dir, "lab-ca.pem")), sl.password, 1,
			`^untrusted chain: the certificate chain does not verify against the trust anchors; add the SES chain to the trust store \(smcfleet certs fetch / the ses-smtp playbook\)\n  detail: TLS handshake with .*x509: certificate signed by unknown authority`, ""},
		{"untrusted chain, SMTPS through smc-01", append(sl.sendArgs("--port", "465", "--ca-file", filepath.Join(sl.l.Dir, "lab-ca.pem")), sl.via()...), sl.password, 1,
			`^untrusted chain: `, ""},
		{"the Manager cannot resolve another region", append(sl.sendArgs("--region", "eu-west-1"), sl.via()...), sl.password, 1,
			`^unreachable: check the endpoint name.*\n  detail: from smc-01: connect to email-smtp.eu-west-1.amazonaws.com:587`, ""},
		{"no such inventory host", append(sl.sendArgs(), "--via", "smc-09", "-i", sl.l.InventoryPath()), sl.password, 1,
			`^ssh: check the inventory entry of smc-09`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := lastID()
			code, stdout, stderr := runSES(t, tt.password+"\n", tt.args...)
			if code != tt.code || !regexp.MustCompile(tt.stdout).MatchString(stdout) {
				t.Fatalf("got exit %d, stdout %q, stderr %q; want exit %d, stdout matching %s", code, stdout, stderr, tt.code, tt.stdout)
			}
			if strings.Contains(stdout+stderr, sl.password) {
				t.Errorf("the password is printed")
			}
			id := lastID()
			if tt.code != 0 {
				if id != before {
					t.Errorf("a message was delivered")
				}
				return
			}
			if stdout != "delivered: "+id+"\n" {
				t.Errorf("stdout %q; the SES got %s", stdout, id)
			}
			m := ses.Messages()[len(ses.Messages())-1]
			if m.Listener != tt.listener || m.ServerName != ses.EndpointName() || m.AuthUser != sl.user {
				t.Errorf("the SES got %+v", m)
			}
		})
	}
	if got := sl.l.Host("smc-01").SSH.Stats().Forwards; got < 4 {
		t.Errorf("smc-01 forwarded %d connections, want at least 4 (every --via test that reached SES)", got)
	}
}

func TestSESTestSendJSON(t *testing.T) {
	t.Setenv("SMCFLEET_RESOLVE", "")
	sl := startSESLab(t)
	t.Setenv(smtpPasswordEnv, sl.password)
	code, stdout, stderr := runSES(t, "", sl.sendArgs("--json", "--port", "2465")...)
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q: %v", code, stdout, stderr, err)
	}
	for _, k := range []string{"ok", "class", "reply", "fix", "message_id"} {
		if _, ok := res[k]; !ok {
			t.Errorf("no %q in %s", k, stdout)
		}
	}
	if res["ok"] != true || res["class"] != string(sesauth.Delivered) || !strings.HasPrefix(res["reply"].(string), "250 Ok ") ||
		res["message_id"] != sl.l.SES().Messages()[0].ID {
		t.Errorf("got %s", stdout)
	}

	t.Setenv(smtpPasswordEnv, "wrong")
	code, stdout, _ = runSES(t, "", sl.sendArgs("--json")...)
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || code != 1 {
		t.Fatalf("exit %d, stdout %q: %v", code, stdout, err)
	}
	if res["ok"] != false || res["class"] != "credentials" || res["reply"] != "535 Authentication Credentials Invalid" ||
		res["fix"] != sesauth.FixCredentials || res["message_id"] != "" {
		t.Errorf("got %s", stdout)
	}
}

func TestSESTestSendInput(t *testing.T) {
	t.Setenv(smtpPasswordEnv, "")
	base := []string{"smcfleet", "ses", "test-send", "--from", "a@lab.example", "--to", "b@lab.example", "--user", "AKIA"}
	tests := []struct {
		name   string
		args   []string
		stdin  string
		stderr string
	}{
		{"password as an argument", append(base, "s3cret-password"), "pw\n", "takes no arguments"},
		{"no password", base, "", "nothing on stdin"},
		{"port SES does not serve", append(base, "--port", "2525"), "pw\n", "--port: port 2525: SES SMTP listens on"},
		{"bad region", append(base, "--region", "email-smtp.us-east-1.amazonaws.com"), "pw\n", "not an AWS region name"},
		{"via without inventory", append(base, "--via", "smc-01"), "pw\n", "give the inventory"},
		{"CA file without certificates", append(base, "--ca-file", "ses_test.go"), "pw\n", "holds no PEM certificate"},
		{"bad From", append(base, "--from", "not an address", "--resolve", "email-smtp.us-east-1.amazonaws.com:587:127.0.0.1:1"), "pw\n", "From address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runSES(t, tt.stdin, tt.args...)
			if code != 1 || !strings.Contains(stderr, tt.stderr) || stdout != "" {
				t.Errorf("got exit %d, stdout %q, stderr %q; want exit 1, stderr containing %q", code, stdout, stderr, tt.stderr)
			}
			if strings.Contains(stderr, "s3cret-password") {
				t.Errorf("the argument is echoed: %q", stderr)
			}
		})
	}
}

func TestSESSMTPPassword(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	const want = "BMPPgbAHoFVbze1Ud0oA5uNdXRwUXUZ+qOwphGJbl/cS\n" // us-east-2, the AWS SDK for PHP's test value
	t.Setenv(secretKeyEnv, "")
	code, stdout, stderr := runSES(t, secret+"\r\n", "smcfleet", "ses", "smtp-password", "--region", "us-east-2")
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("stdin: got exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}
	t.Setenv(secretKeyEnv, secret)
	code, stdout, _ = runSES(t, "ignored\n", "smcfleet", "ses", "smtp-password", "--region", "US-EAST-2")
	if code != 0 || stdout != want {
		t.Errorf("env: got exit %d, stdout %q; want %q", code, stdout, want)
	}
	code, stdout, stderr = runSES(t, "", "smcfleet", "ses", "smtp-password", "--region", "us-east-2", secret)
	if code != 1 || stdout != "" || strings.Contains(stderr, secret) || !strings.Contains(stderr, "takes no arguments") {
		t.Errorf("argument: got exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
