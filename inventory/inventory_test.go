package inventory

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smcfleet/smcfleet/internal/lang"
	"github.com/zclconf/go-cty/cty"
)

const testFile = "/inv/inventory.hcl"

func mustParse(t *testing.T, src string) *Inventory {
	t.Helper()
	inv, diags := Parse([]byte(src), testFile, testOptions())
	if diags.HasErrors() {
		t.Fatalf("Parse:\n%s\nsource:\n%s", renderDiags(inv, diags), src)
	}
	return inv
}

func varString(h *Host, key string) string {
	v, ok := h.Vars[key]
	if !ok {
		return "<unset>"
	}
	v, _ = v.Unmark()
	return v.AsString()
}

const precedenceSrc = `
defaults {
  user = "root"
  port = 2200
  connect_timeout = "5s"
  vars = { tier = "default", region = "none", site = "default", only_defaults = "d" }
}
group "prod" {
  port = 2201
  user = "prod-user"
  vars = { tier = "prod", region = "prod-region" }
}
group "east" {
  port = 2202
  vars = { region = "us-east-2" }
}
host "smc-01" { groups = ["prod", "east"] }
host "smc-02" { groups = ["east", "prod"] }
host "smc-03" {
  groups = ["prod", "east"]
  port   = 22
  user   = "host-user"
  vars   = { region = "host-region" }
}
host "smc-04" {}
`

func TestMergePrecedence(t *testing.T) {
	inv := mustParse(t, precedenceSrc)
	tests := []struct {
		host, what string
		get        func(*Host) any
		want       any
	}{
		{"smc-01", "port (later group wins)", func(h *Host) any { return h.Port }, 2202},
		{"smc-02", "port (later group wins)", func(h *Host) any { return h.Port }, 2201},
		{"smc-03", "port (host wins)", func(h *Host) any { return h.Port }, 22},
		{"smc-04", "port (defaults)", func(h *Host) any { return h.Port }, 2200},
		{"smc-01", "user (only prod sets it)", func(h *Host) any { return h.User }, "prod-user"},
		{"smc-03", "user (host wins)", func(h *Host) any { return h.User }, "host-user"},
		{"smc-04", "user (defaults)", func(h *Host) any { return h.User }, "root"},
		{"smc-01", "connect_timeout (defaults)", func(h *Host) any { return h.ConnectTimeout }, 5 * time.Second},
		{"smc-01", "vars.region (later group wins)", func(h *Host) any { return varString(h, "region") }, "us-east-2"},
		{"smc-02", "vars.region (later group wins)", func(h *Host) any { return varString(h, "region") }, "prod-region"},
		{"smc-03", "vars.region (host wins)", func(h *Host) any { return varString(h, "region") }, "host-region"},
		{"smc-04", "vars.region (defaults)", func(h *Host) any { return varString(h, "region") }, "none"},
		{"smc-01", "vars.tier (earlier group over defaults)", func(h *Host) any { return varString(h, "tier") }, "prod"},
		{"smc-03", "vars.only_defaults (merged key by key)", func(h *Host) any { return varString(h, "only_defaults") }, "d"},
		{"smc-04", "address (defaults to name)", func(h *Host) any { return h.Address }, "smc-04"},
		{"smc-02", "groups (as listed)", func(h *Host) any { return strings.Join(h.Groups, ",") }, "east,prod"},
	}
	for _, tt := range tests {
		h := inv.Host(tt.host)
		if h == nil {
			t.Fatalf("no host %s", tt.host)
		}
		if got := tt.get(h); got != tt.want {
			t.Errorf("%s %s: got %v, want %v", tt.host, tt.what, got, tt.want)
		}
	}
}

func TestBuiltinDefaults(t *testing.T) {
	inv := mustParse(t, `host "smc-01" {}
host "pinned" { host_keys = ["SHA256:nP1Wb13j5KgnoFl91BSZ/aP18yd0IIEbRczss4r0eGs"] }
host "api" {
  address = "2001:db8::5"
  api {}
}`)
	tests := []struct {
		host, field string
		get         func(*Host) any
		want        any
	}{
		{"smc-01", "address", func(h *Host) any { return h.Address }, "smc-01"},
		{"smc-01", "port", func(h *Host) any { return h.Port }, 22},
		{"smc-01", "user", func(h *Host) any { return h.User }, "tester"},
		{"smc-01", "ssh_agent", func(h *Host) any { return h.SSHAgent }, true},
		{"smc-01", "known_hosts", func(h *Host) any { return h.KnownHosts }, "/home/tester/.ssh/known_hosts"},
		{"smc-01", "connect_timeout", func(h *Host) any { return h.ConnectTimeout }, 10 * time.Second},
		{"smc-01", "api is nil", func(h *Host) any { return h.API == nil }, true},
		{"pinned", "known_hosts (host_keys only)", func(h *Host) any { return h.KnownHosts }, ""},
		{"api", "api.url", func(h *Host) any { return h.API.URL }, "https://[2001:db8::5]"},
	}
	for _, tt := range tests {
		if got := tt.get(inv.Host(tt.host)); got != tt.want {
			t.Errorf("%s %s: got %v, want %v", tt.host, tt.field, got, tt.want)
		}
	}
}

func TestSensitiveAddressRedactsDefaultAPIURL(t *testing.T) {
	inv := mustParse(t, `host "h" {
  address = env("SMC_JUMP")
  api {}
}`)
	h := inv.Host("h")
	if got, want := h.API.URL, "https://jump.example.com"; got != want {
		t.Fatalf("api url: got %q, want %q", got, want)
	}
	view, err := json.Marshal(h.View())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(view), "jump.example.com") {
		t.Errorf("View: got %s, want no sensitive address", view)
	}
	if got := strings.Join(h.Secrets(), " "); !strings.Contains(got, "jump.example.com") {
		t.Errorf("Secrets(): got %q, want the address", got)
	}
}

func TestSelect(t *testing.T) {
	inv := mustParse(t, `
group "east" {}
group "west" {}
host "bastion" {}
host "smc-01" { groups = ["east"] }
host "smc-02" { groups = ["east"] }
host "smc-03" { groups = ["west"] }
host "smc-10" { groups = ["west", "east"] }
host "lab.example.com" {}
`)
	tests := []struct {
		limit, want, wantErr string
	}{
		{"", "bastion smc-01 smc-02 smc-03 smc-10 lab.example.com", ""},
		{"all", "bastion smc-01 smc-02 smc-03 smc-10 lab.example.com", ""},
		{"smc-02", "smc-02", ""},
		{"smc-03,smc-01", "smc-01 smc-03", ""}, // inventory order, not limit order
		{" smc-01 , bastion ", "bastion smc-01", ""},
		{"smc-*", "smc-01 smc-02 smc-03 smc-10", ""},
		{"smc-0[1-2]", "smc-01 smc-02", ""},
		{"smc-?0", "smc-10", ""},
		{"east", "smc-01 smc-02 smc-10", ""},
		{"e*", "smc-01 smc-02 smc-10", ""}, // globs match group names too
		{"east,!smc-10", "smc-01 smc-02", ""},
		{"!east", "bastion smc-03 lab.example.com", ""},
		{"!smc-*,!bastion", "lab.example.com", ""},
		{"all,!west", "bastion smc-01 smc-02 lab.example.com", ""},
		{"lab.example.com", "lab.example.com", ""},
		{"smc-9*", "", `--limit: "smc-9*" matches no host or group`},
		{"smc-01,nope", "", `--limit: "nope" matches no host or group`},
		{"!nope", "", `--limit: "nope" matches no host or group`},
		{"smc-[", "", `--limit: bad pattern "smc-["`},
		{"!", "", `needs a pattern`},
		{"smc-01,!smc-01", "", `selects no host`},
		{"!all", "", `selects no host`},
	}
	for _, tt := range tests {
		hosts, err := inv.Select(tt.limit)
		var got, gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		got = strings.Join(hostNames(hosts), " ")
		if tt.wantErr != "" {
			if !strings.Contains(gotErr, tt.wantErr) {
				t.Errorf("Select(%q): got %q, error %q; want error containing %q", tt.limit, got, gotErr, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Select(%q): got %q (error %v), want %q", tt.limit, got, err, tt.want)
		}
	}
}

func TestJumpChain(t *testing.T) {
	inv := mustParse(t, `
defaults {
  user           = "deploy"
  identity_files = ["keys/id"]
  ssh_agent      = false
  known_hosts    = "kh"
}
host "b1" { address = "198.51.100.1" }
host "b2" {
  jump = ["b1"]
  user = "b2-user"
}
host "b3" { jump = ["b2"] }
host "direct" {}
host "via-b3" { jump = ["b3"] }
host "later-hop-own-jump-ignored" { jump = ["b1", "b2"] }
host "mixed" {
  port = 2222
  jump = ["ops@jump.example.com:2200", "b1", "10.0.0.9", "[2001:db8::1]:23"]
}
host "pinned" {
  host_keys = ["SHA256:nP1Wb13j5KgnoFl91BSZ/aP18yd0IIEbRczss4r0eGs"]
  jump      = ["jump.example.com"]
}
`)
	hop := func(h *Host) string {
		return h.Name + "=" + h.User + "@" + h.Address + ":" + strconv.Itoa(h.Port)
	}
	tests := []struct {
		host, want string
	}{
		{"direct", ""},
		{"b2", "b1=deploy@198.51.100.1:22"},
		{"b3", "b1=deploy@198.51.100.1:22 b2=b2-user@b2:22"},
		{"via-b3", "b1=deploy@198.51.100.1:22 b2=b2-user@b2:22 b3=deploy@b3:22"},
		{"later-hop-own-jump-ignored", "b1=deploy@198.51.100.1:22 b2=b2-user@b2:22"},
		{"mixed", "ops@jump.example.com:2200=ops@jump.example.com:2200 b1=deploy@198.51.100.1:22 10.0.0.9=deploy@10.0.0.9:22 [2001:db8::1]:23=deploy@2001:db8::1:23"},
	}
	for _, tt := range tests {
		chain, err := inv.JumpChain(inv.Host(tt.host))
		var parts []string
		for _, h := range chain {
			parts = append(parts, hop(h))
		}
		if got := strings.Join(parts, " "); err != nil || got != tt.want {
			t.Errorf("JumpChain(%s): got %q (error %v), want %q", tt.host, got, err, tt.want)
		}
	}

	// A string hop inherits the target's credentials but not its pinned keys.
	chain, err := inv.JumpChain(inv.Host("mixed"))
	if err != nil {
		t.Fatal(err)
	}
	first := chain[0]
	if got, want := strings.Join(first.IdentityFiles, ","), "/inv/keys/id"; got != want {
		t.Errorf("string hop identity_files: got %q, want %q", got, want)
	}
	if got, want := first.KnownHosts, "/inv/kh"; got != want {
		t.Errorf("string hop known_hosts: got %q, want %q", got, want)
	}
	if got, want := first.SSHAgent, false; got != want {
		t.Errorf("string hop ssh_agent: got %v, want %v", got, want)
	}
	if got, want := first.DeclRange.Start.Line, 19; got != want {
		t.Errorf("string hop DeclRange line: got %d, want %d", got, want)
	}
	chain, err = inv.JumpChain(inv.Host("pinned"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(chain[0].HostKeys), 0; got != want {
		t.Errorf("string hop host_keys: got %d, want %d", got, want)
	}
}

func TestJumpChainErrors(t *testing.T) {
	// Built by hand: Load refuses these, but JumpChain must not loop.
	a := &Host{Name: "a", Jump: []string{"b"}}
	b := &Host{Name: "b", Jump: []string{"a"}}
	self := &Host{Name: "self", Jump: []string{"self"}}
	twice := &Host{Name: "twice", Jump: []string{"c", "c"}}
	c := &Host{Name: "c"}
	bad := &Host{Name: "bad", Jump: []string{"x@-y.example.com"}}
	inv := &Inventory{Hosts: []*Host{a, b, self, twice, c, bad}}
	tests := []struct {
		host    *Host
		wantErr string
	}{
		{a, "jump cycle: a → b → a"},
		{self, "jump cycle: self → self"},
		{twice, "passes c twice"},
		{bad, `bad host "-y.example.com"`},
	}
	for _, tt := range tests {
		chain, err := inv.JumpChain(tt.host)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("JumpChain(%s): got %v, error %v; want error containing %q", tt.host.Name, hostNames(chain), err, tt.wantErr)
		}
	}
}

func TestParseHop(t *testing.T) {
	tests := []struct {
		in      string
		want    hop
		wantErr bool
	}{
		{"jump.example.com", hop{host: "jump.example.com"}, false},
		{"ops@jump.example.com", hop{user: "ops", host: "jump.example.com"}, false},
		{"ops@10.0.0.1:2222", hop{user: "ops", host: "10.0.0.1", port: 2222}, false},
		{"2001:db8::1", hop{host: "2001:db8::1"}, false},
		{"[2001:db8::1]:22", hop{host: "2001:db8::1", port: 22}, false},
		{"u@[2001:db8::1]", hop{user: "u", host: "2001:db8::1"}, false},
		{"host.example.com:", hop{}, true},
		{"host.example.com:0", hop{}, true},
		{"@host.example.com", hop{}, true},
		{"[host.example.com]:22", hop{}, true},
		{"-oProxyCommand=x", hop{}, true},
		{"a b.example.com", hop{}, true},
		{"[2001:db8::1", hop{}, true},
	}
	for _, tt := range tests {
		got, err := parseHop(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseHop(%q): got %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNormalizeFingerprint(t *testing.T) {
	const want = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
	tests := []struct {
		in, want string
	}{
		{want, want},
		{strings.ToLower(want), want},
		{strings.ReplaceAll(want, ":", ""), want},
		{"AB:CD", ""},
		{strings.Replace(want, "AB", "ABC", 1), ""},
		{strings.Replace(want, "AB", "GG", 1), ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := normalizeFingerprint(tt.in)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("normalizeFingerprint(%q): got %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestPathExpansion(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"~/.ssh/id_ed25519", "/home/tester/.ssh/id_ed25519"},
		{"~", "/home/tester"},
		{"keys/id", "/inv/keys/id"},
		{"./keys/../id", "/inv/id"},
		{"/etc/smc/id", "/etc/smc/id"},
	}
	for _, tt := range tests {
		inv := mustParse(t, `host "h" {
  identity_files = ["`+tt.in+`"]
  known_hosts    = "`+tt.in+`"
  api { ca_file = "`+tt.in+`" }
}`)
		h := inv.Host("h")
		for _, got := range []string{h.IdentityFiles[0], h.KnownHosts, h.API.CAFile} {
			if got != tt.want {
				t.Errorf("path %q: got %q, want %q", tt.in, got, tt.want)
			}
		}
	}
}

func TestHomeFallsBackToUserHomeDir(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no home directory:", err)
	}
	opts := LoadOptions{Getenv: func(name string) (string, bool) {
		if name == "USER" {
			return "tester", true
		}
		return "", false
	}}
	inv, diags := Parse([]byte(`host "h" { identity_files = ["~/.ssh/id"] }`), testFile, opts)
	if diags.HasErrors() {
		t.Fatal(renderDiags(inv, diags))
	}
	if got, want := inv.Host("h").IdentityFiles[0], filepath.Join(home, ".ssh/id"); got != want {
		t.Errorf("~ without $HOME: got %q, want %q", got, want)
	}
}

func TestLoadResolvesAgainstFileDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw.txt"), []byte("pw-in-tempdir"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "inventory.hcl")
	src := `host "h" {
  password       = file("pw.txt")
  identity_files = ["id"]
}`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, diags := Load(path, testOptions())
	if diags.HasErrors() {
		t.Fatal(renderDiags(inv, diags))
	}
	h := inv.Host("h")
	if got, want := h.Password, "pw-in-tempdir"; got != want {
		t.Errorf("file(): got %q, want %q", got, want)
	}
	if got, want := h.IdentityFiles[0], filepath.Join(dir, "id"); got != want {
		t.Errorf("identity_files: got %q, want %q", got, want)
	}
	if inv.Files[path] == nil {
		t.Errorf("Files: got keys %v, want %q", keys(inv.Files), path)
	}

	_, diags = Load(filepath.Join(dir, "missing.hcl"), testOptions())
	if !diags.HasErrors() {
		t.Errorf("Load(missing): got no error, want one")
	}
}

const secretsSrc = `
defaults {
  user = "admin"
  password = "literal-ssh-password"
  vars = {
    smtp_password = env("SMC_API_PASSWORD")
    nested        = { token = sensitive("nested-token-value"), plain = "plain-value" }
    from_file     = file("secrets/ssh-password.txt")
    region        = "us-east-1"
  }
  api {
    username = nonsensitive(env("SMC_API_PASSWORD"))
    password = "literal-api-password"
  }
}
host "smc-01" {
  identity_files = ["keys/id", "keys/${env("SMC_JUMP")}"]
  api {
    fingerprint_sha256 = sensitive("ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789")
  }
}
`

func TestSecretsRedacted(t *testing.T) {
	inv, diags := Parse([]byte(secretsSrc), "testdata/valid/secrets.hcl", testOptions())
	if diags.HasErrors() {
		t.Fatal(renderDiags(inv, diags))
	}
	h := inv.Host("smc-01")
	secrets := []string{
		"literal-ssh-password",
		"literal-api-password",
		"nested-token-value",
		"s3cret-from-file",
		"jump.example.com", // identity_files[1] came from env()
		"AB:CD:EF:01:23:45:67:89",
	}
	// The secrets must really be on the host, or the checks below prove nothing.
	onHost := strings.Join([]string{h.Password, h.API.Password, mustUnmark(h.Vars["nested"]),
		mustUnmark(h.Vars["from_file"]), strings.Join(h.IdentityFiles, " "), h.API.FingerprintSHA256}, "\n")
	gotSecrets := strings.Join(h.Secrets(), "\n")
	for _, s := range secrets {
		if !strings.Contains(onHost, s) {
			t.Errorf("secret %q: not set on the host (got %q)", s, onHost)
		}
		if !strings.Contains(gotSecrets, s) {
			t.Errorf("Secrets(): got %q, want it to contain %q", h.Secrets(), s)
		}
	}
	// env() values are secrets unless nonsensitive() says otherwise.
	if got, want := h.API.Username, testEnv["SMC_API_PASSWORD"]; got != want {
		t.Errorf("api username: got %q, want %q", got, want)
	}

	var text, js bytes.Buffer
	if err := WriteList(&text, inv.Hosts, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteList(&js, inv.Hosts, true); err != nil {
		t.Fatal(err)
	}
	view, err := json.Marshal(h.View())
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []struct {
		name, text string
	}{{"WriteList text", text.String()}, {"WriteList JSON", js.String()}, {"View", string(view)}} {
		for _, s := range append(secrets, "s3cret") {
			if strings.Contains(out.text, s) {
				t.Errorf("%s: got output containing secret %q:\n%s", out.name, s, out.text)
			}
		}
		for _, s := range []string{"plain-value", "us-east-1", lang.RedactedText} {
			if !strings.Contains(out.text, s) {
				t.Errorf("%s: got output without %q, want it shown:\n%s", out.name, s, out.text)
			}
		}
	}
}

func mustUnmark(v cty.Value) string {
	return strings.Join(lang.SecretStrings(v), " ")
}

func TestWriteList(t *testing.T) {
	inv, diags := Load("testdata/valid/full.hcl", testOptions())
	if diags.HasErrors() {
		t.Fatal(renderDiags(inv, diags))
	}
	var buf bytes.Buffer
	if err := WriteList(&buf, inv.Hosts, false); err != nil {
		t.Fatal(err)
	}
	want := `NAME     ADDRESS    PORT  USER  GROUPS
bastion  10.0.0.1   22    root  -
smc-01   10.0.0.11  22    root  east

bastion vars:
  region = "us-east-1"

smc-01 vars:
  from_email = "alerts@example.com"
  region     = "us-east-2"
`
	if got := buf.String(); got != want {
		t.Errorf("WriteList text:\ngot:\n%s\nwant:\n%s", got, want)
	}

	buf.Reset()
	if err := WriteList(&buf, inv.Hosts, true); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		FormatVersion string     `json:"format_version"`
		Hosts         []HostView `json:"hosts"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("WriteList JSON: %v\n%s", err, buf.String())
	}
	smc := doc.Hosts[1]
	got := []any{doc.FormatVersion, len(doc.Hosts), smc.Name, smc.Vars["region"], strings.Join(smc.Jump, ","),
		smc.API.URL, smc.API.Username, smc.API.PasswordSet, smc.API.CAFile, smc.ConnectTimeout}
	want2 := []any{"1", 2, "smc-01", "us-east-2", "bastion",
		"https://10.0.0.11", "smcfleet-api", true, mustAbs(t, "testdata/valid/ca.pem"), "10s"}
	for i := range want2 {
		if got[i] != want2[i] {
			t.Errorf("WriteList JSON field %d: got %v, want %v", i, got[i], want2[i])
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriteListReportsWriteErrors(t *testing.T) {
	inv := mustParse(t, `host "h" { vars = { a = 1 } }`)
	for _, asJSON := range []bool{false, true} {
		if err := WriteList(failWriter{}, inv.Hosts, asJSON); err == nil {
			t.Errorf("WriteList(failing writer, json=%v): got nil error, want one", asJSON)
		}
	}
}
