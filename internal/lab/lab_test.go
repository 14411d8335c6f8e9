package lab_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/smcfleet/smcfleet/internal/lab"
	"github.com/smcfleet/smcfleet/internal/lab/labca"
	"github.com/smcfleet/smcfleet/internal/lab/smcapi"
	"github.com/smcfleet/smcfleet/inventory"
)

func startLab(t *testing.T, hosts int) *lab.Lab {
	t.Helper()
	l, err := lab.Start(context.Background(), lab.Options{Hosts: hosts, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// configure stores SMTP settings and trust-store entries in the host's
// applied configuration, as an apply through the API would.
func configure(t *testing.T, h *lab.Host, smtp map[string]any, trust []string) {
	t.Helper()
	doc := h.API.Document()
	ce := doc["configurableElements"].(map[string]any)
	if smtp != nil {
		cur := ce["smtp"].(map[string]any)
		for k, v := range smtp {
			cur[k] = v
		}
	}
	if trust != nil {
		ts := ce["trustStore"].(map[string]any)
		list, _ := ts["trustedCertificates"].([]any)
		for i, pem := range trust {
			list = append(list, map[string]any{
				"friendlyName": "ses-" + string(rune('a'+i)),
				"certificate":  map[string]any{"content": pem},
			})
		}
		ts["trustedCertificates"] = list
	}
	if err := h.API.SetDocument(doc); err != nil {
		t.Fatal(err)
	}
}

func restart(t *testing.T, h *lab.Host) {
	t.Helper()
	var out, errb strings.Builder
	if code := h.Shell.Exec(context.Background(), "docker restart sw-response-mgmt", nil, &out, &errb); code != 0 {
		t.Fatalf("docker restart: exit %d: %s", code, errb.String())
	}
}

// TestNotificationPath walks the procedure's troubleshooting table: each
// failure appends its log line, and the fixed configuration delivers.
func TestNotificationPath(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	ctx := context.Background()
	user, pass := l.SMTPCredentials()
	endpoint := labca.EndpointName("us-east-1")
	good := map[string]any{
		smcapi.SMTPFieldServer: endpoint, smcapi.SMTPFieldPort: 587, smcapi.SMTPFieldFromEmail: "alerts@" + lab.VerifiedDomain,
		smcapi.SMTPFieldUserName: user, smcapi.SMTPFieldPassword: pass, smcapi.SMTPFieldEncryption: "STARTTLS",
	}
	logPath := h.Root + lab.ResponseLogPath

	// 1. SMTP configured, chain not trusted: the PKIX error.
	configure(t, h, good, nil)
	if res := l.TestAction(ctx, h); res.OK {
		t.Fatal("test action before restart: got delivered, want the unconfigured failure (settings load at restart)")
	}
	restart(t, h)
	res := l.TestAction(ctx, h)
	if res.OK || !strings.Contains(res.Error, "SunCertPathBuilderException: unable to find valid certification path to requested target") {
		t.Fatalf("untrusted chain: got %+v, want SunCertPathBuilderException", res)
	}

	// 2. Chain trusted, legacy DHE on and DHE still in tls-ciphers.
	chain := l.SESChain()
	configure(t, h, nil, []string{string(labca.EncodePEM(chain.Root)), string(labca.EncodePEM(chain.Intermediate))})
	if err := l.SES().SetLegacyDHE(true); err != nil {
		t.Skipf("legacy DHE needs openssl: %v", err)
	}
	restart(t, h)
	res = l.TestAction(ctx, h)
	if res.OK || !strings.Contains(res.Error, "SSL routines:tls_process_ske_dhe:dh key too small") {
		t.Fatalf("DHE allowed: got %+v, want dh key too small", res)
	}

	// 3. Ciphers fixed, but the file alone changes nothing until a restart.
	if err := os.WriteFile(h.Root+lab.CiphersPath, []byte("ECDHE-RSA-AES128-GCM-SHA256:AES128-GCM-SHA256\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := l.TestAction(ctx, h); res.OK {
		t.Fatal("ciphers rewritten without restart: got delivered, want the old list still in use")
	}
	restart(t, h)

	// 4. Wrong password: 535.
	configure(t, h, map[string]any{smcapi.SMTPFieldPassword: "wrong"}, nil)
	restart(t, h)
	res = l.TestAction(ctx, h)
	if res.OK || !strings.Contains(res.Error, "AuthenticationFailedException: 535 Authentication Credentials Invalid") {
		t.Fatalf("bad password: got %+v, want 535", res)
	}

	// 5. From outside the verified domain: 554.
	configure(t, h, map[string]any{smcapi.SMTPFieldPassword: pass, smcapi.SMTPFieldFromEmail: "smc@lancope.local"}, nil)
	restart(t, h)
	res = l.TestAction(ctx, h)
	if res.OK || !strings.Contains(res.Error, "554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: smc@lancope.local") {
		t.Fatalf("unverified from: got %+v, want 554", res)
	}

	// 6. Everything right: delivered, over implicit TLS too.
	configure(t, h, map[string]any{smcapi.SMTPFieldFromEmail: "alerts@" + lab.VerifiedDomain}, nil)
	restart(t, h)
	if res := l.TestAction(ctx, h); !res.OK {
		t.Fatalf("fixed configuration: got %+v, want delivered", res)
	}
	configure(t, h, map[string]any{smcapi.SMTPFieldPort: 465, smcapi.SMTPFieldEncryption: "SMTPS"}, nil)
	restart(t, h)
	if res := l.TestAction(ctx, h); !res.OK {
		t.Fatalf("SMTPS: got %+v, want delivered", res)
	}
	if got := len(l.SES().Messages()); got != 2 {
		t.Errorf("delivered messages: got %d, want 2", got)
	}

	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SunCertPathBuilderException", "dh key too small", "535 Authentication Credentials Invalid", "554 Message rejected"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log %s: missing %q", lab.ResponseLogPath, want)
		}
	}
}

func TestInventoryAndSeed(t *testing.T) {
	l := startLab(t, 3)
	inv, diags := inventory.Load(l.InventoryPath(), inventory.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if len(inv.Hosts) != 3 || inv.Hosts[2].Name != "smc-03" {
		t.Fatalf("got hosts %v, want smc-01..smc-03", inv.Hosts)
	}
	h := inv.Hosts[0]
	if h.API == nil || h.API.Password == "" || h.API.CAFile == "" || !strings.HasPrefix(h.API.URL, "https://127.0.0.1:") {
		t.Errorf("api settings: got %+v", h.API)
	}
	for _, p := range []string{lab.CiphersPath, lab.ResponseLogPath} {
		if _, err := os.Stat(l.Hosts[0].Root + p); err != nil {
			t.Errorf("seeded %s: %v", p, err)
		}
	}
	b, _ := os.ReadFile(l.Hosts[0].Root + lab.CiphersPath)
	if !lab.AllowsDHE(string(b)) {
		t.Errorf("default tls-ciphers: got %q, want DHE suites in it", b)
	}
	vars, err := os.ReadFile(l.VarsPath())
	if err != nil || !strings.Contains(string(vars), "smtp_password") {
		t.Errorf("vars file: got %q, %v", vars, err)
	}
}

func TestFaults(t *testing.T) {
	l := startLab(t, 1)
	h := l.Hosts[0]
	for _, f := range lab.Faults {
		if err := l.SetFault(h, f, "on"); err != nil {
			t.Errorf("fault %s on: %v", f, err)
		}
		if err := l.SetFault(h, f, "off"); err != nil {
			t.Errorf("fault %s off: %v", f, err)
		}
	}
	if err := l.SetFault(h, "bogus", ""); err == nil {
		t.Error("unknown fault: got nil error")
	}
}
