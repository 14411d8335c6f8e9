package inventory

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

var iniMarker = regexp.MustCompile(`[#;]\s*(ERROR|WARNING):\s*(.+?)\s*$`)

// checkMarkers checks that each "# ERROR: <summary>" or "; WARNING:
// <summary>" comment gets a diagnostic of that severity with that summary
// on its line, and that there is no other error or warning.
func checkMarkers(t *testing.T, path string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		line     int
		severity hcl.DiagnosticSeverity
		summary  string
	}
	var wants []want
	sc := bufio.NewScanner(bytes.NewReader(src))
	for line := 1; sc.Scan(); line++ {
		if m := iniMarker.FindStringSubmatch(sc.Text()); m != nil {
			sev := hcl.DiagError
			if m[1] == "WARNING" {
				sev = hcl.DiagWarning
			}
			wants = append(wants, want{line, sev, m[2]})
		}
	}
	inv, diags := Load(path, testOptions())
	matched := make([]bool, len(diags))
	for _, w := range wants {
		found := false
		for i, d := range diags {
			if d.Severity == w.severity && d.Subject != nil &&
				d.Subject.Start.Line == w.line && strings.Contains(d.Summary, w.summary) {
				matched[i], found = true, true
			}
		}
		if !found {
			t.Errorf("%s:%d: got no diagnostic %q; diagnostics:\n%s", path, w.line, w.summary, renderDiags(inv, diags))
		}
	}
	for i, d := range diags {
		if !matched[i] {
			t.Errorf("unexpected diagnostic: %s", diagString(d))
		}
	}
}

func TestINIFixtures(t *testing.T) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.ini"))
		if err != nil || len(files) < 3 {
			t.Fatalf("want INI fixtures in %s, got %d (%v)", dir, len(files), err)
		}
		for _, path := range files {
			t.Run(path, func(t *testing.T) {
				checkMarkers(t, path)
				if dir == "testdata/invalid" {
					_, diags := Load(path, testOptions())
					if !diags.HasErrors() {
						t.Errorf("%s: no error", path)
					}
				}
			})
		}
	}
}

func TestINIInventory(t *testing.T) {
	inv, diags := Load("testdata/valid/ansible.ini", testOptions())
	if diags.HasErrors() {
		t.Fatal(renderDiags(inv, diags))
	}
	dir, _ := filepath.Abs("testdata/valid")
	var names []string
	for _, h := range inv.Hosts {
		names = append(names, h.Name)
	}
	if got, want := strings.Join(names, " "), "bastion smc-01 smc-02 smc-03 smc-east.example.com smc-west lab"; got != want {
		t.Errorf("hosts: got %q, want %q", got, want)
	}
	var groups []string
	for _, g := range inv.Groups {
		groups = append(groups, g.Name)
	}
	if got, want := strings.Join(groups, " "), "east west prod"; got != want {
		t.Errorf("groups: got %q, want %q", got, want)
	}
	tests := []struct {
		host, what string
		get        func(*Host) any
		want       any
	}{
		{"bastion", "address", func(h *Host) any { return h.Address }, "203.0.113.10"},
		{"bastion", "user (host over [all:vars])", func(h *Host) any { return h.User }, "jump"},
		{"bastion", "groups (none)", func(h *Host) any { return strings.Join(h.Groups, ",") }, ""},
		{"bastion", "known_hosts (default)", func(h *Host) any { return h.KnownHosts }, "/home/tester/.ssh/known_hosts"},
		{"smc-01", "address (the name)", func(h *Host) any { return h.Address }, "smc-01"},
		{"smc-01", "port (range line)", func(h *Host) any { return h.Port }, 2222},
		{"smc-01", "user ([all:vars])", func(h *Host) any { return h.User }, "root"},
		{"smc-01", "identity_files", func(h *Host) any { return strings.Join(h.IdentityFiles, ",") }, "/home/tester/.ssh/id_ed25519"},
		{"smc-01", "groups (parents first)", func(h *Host) any { return strings.Join(h.Groups, ",") }, "prod,east"},
		{"smc-01", "tier (child group over parent)", func(h *Host) any { return varString(h, "tier") }, "prod-east"},
		{"smc-01", "region ([all:vars])", func(h *Host) any { return varString(h, "region") }, "us-east-1"},
		{"smc-01", "jump (smcfleet_jump)", func(h *Host) any { return strings.Join(h.Jump, ",") }, "bastion"},
		{"smc-01", "connect_timeout (ansible_ssh_timeout)", func(h *Host) any { return h.ConnectTimeout }, 5 * time.Second},
		{"smc-02", "port (range line)", func(h *Host) any { return h.Port }, 2222},
		{"smc-03", "groups (two groups, by name)", func(h *Host) any { return strings.Join(h.Groups, ",") }, "prod,east,west"},
		{"smc-03", "port (first line)", func(h *Host) any { return h.Port }, 2222},
		{"smc-east.example.com", "port (host:port)", func(h *Host) any { return h.Port }, 2200},
		{"smc-east.example.com", "site (double quotes)", func(h *Host) any { return varString(h, "site") }, "Data Center 1"},
		{"smc-east.example.com", "note (single quotes)", func(h *Host) any { return varString(h, "note") }, `say "hi"`},
		{"smc-west", "region (host var over [all:vars])", func(h *Host) any { return varString(h, "region") }, "us-west-2"},
		{"smc-west", "tier (parent group)", func(h *Host) any { return varString(h, "tier") }, "prod"},
		{"smc-west", "jump (none)", func(h *Host) any { return len(h.Jump) }, 0},
		{"lab", "known_hosts (smcfleet_known_hosts, inventory-relative)", func(h *Host) any { return h.KnownHosts }, filepath.Join(dir, "known_hosts")},
		{"lab", "groups ([ungrouped])", func(h *Host) any { return len(h.Groups) }, 0},
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
	sel, err := inv.Select("prod,!west")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(hostNames(sel), " "), "smc-01 smc-02 smc-east.example.com"; got != want {
		t.Errorf("--limit prod,!west: got %q, want %q", got, want)
	}
}

// TestINIEquivalentToHCL loads the same fleet written both ways: every
// field of every host must match.
func TestINIEquivalentToHCL(t *testing.T) {
	load := func(path string) []HostView {
		inv, diags := Load(path, testOptions())
		if len(diags) > 0 {
			t.Fatalf("%s:\n%s", path, renderDiags(inv, diags))
		}
		var views []HostView
		for _, h := range inv.Hosts {
			views = append(views, h.View())
		}
		return views
	}
	fromINI, fromHCL := load("testdata/valid/equivalent.ini"), load("testdata/valid/equivalent.hcl")
	a, _ := json.MarshalIndent(fromINI, "", "  ")
	b, _ := json.MarshalIndent(fromHCL, "", "  ")
	if !bytes.Equal(a, b) {
		t.Errorf("INI and HCL inventories differ:\nINI: %s\nHCL: %s", a, b)
	}
	if len(fromINI) != 5 {
		t.Errorf("got %d hosts, want 5", len(fromINI))
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"hosts.ini", "host \"x\" {}", FormatINI},
		{"ansible.cfg", "", FormatINI},
		{"fleet.hcl", "[smc]\nsmc-01\n", FormatHCL},
		{"hosts", "# comment\n\n[smc]\nsmc-01\n", FormatINI},
		{"hosts", "smc-01 ansible_host=10.0.0.1\n", FormatINI},
		{"fleet", "// comment\nhost \"smc-01\" {}\n", FormatHCL},
		{"fleet.conf", "defaults {\n}\n", FormatHCL},
	}
	for _, tt := range tests {
		if got := DetectFormat(tt.name, []byte(tt.src)); got != tt.want {
			t.Errorf("DetectFormat(%q, %q) = %q, want %q", tt.name, tt.src, got, tt.want)
		}
	}
}

func TestINIFormatOption(t *testing.T) {
	opts := testOptions()
	opts.Format = FormatINI
	inv, diags := Parse([]byte("[smc]\nsmc-01 ansible_port=2200\n"), "/inv/fleet.hcl", opts)
	if diags.HasErrors() {
		t.Fatal(renderDiags(inv, diags))
	}
	if h := inv.Host("smc-01"); h == nil || h.Port != 2200 {
		t.Fatalf("Format ini: got %+v", inv.Hosts)
	}
	opts.Format = "yaml"
	if _, diags := Parse(nil, "/inv/x", opts); !diags.HasErrors() {
		t.Error("Format yaml: no error")
	}
}

func TestExpandHostRange(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{"smc", "smc", ""},
		{"smc-[01:03]", "smc-01 smc-02 smc-03", ""},
		{"smc-[8:11]", "smc-8 smc-9 smc-10 smc-11", ""},
		{"smc-[00:10:5]", "smc-00 smc-05 smc-10", ""},
		{"node-[a:c].lab", "node-a.lab node-b.lab node-c.lab", ""},
		{"r[1:2]h[a:b]", "r1ha r1hb r2ha r2hb", ""},
		{"smc-[3:1]", "", "after the end"},
		{"smc-[01:100]", "", "same width"},
		{"smc-[1:5:0]", "", "step"},
		{"smc-[1]", "", "not a range"},
		{"smc-[1:3", "", "without ']'"},
		{"smc-[a:3]", "", "numbers"},
		{"smc-[0:99999]", "", "more than"},
	}
	for _, tt := range tests {
		got, err := expandHostRange(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("expandHostRange(%q): got %v, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("expandHostRange(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSplitINILine(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`smc-01 a=1   b=2`, []string{"smc-01", "a=1", "b=2"}},
		{`h a="x y" b='p q' c=d\ e`, []string{"h", "a=x y", "b=p q", "c=d e"}},
		{`h a="say \"hi\"" # comment x=1`, []string{"h", `a=say "hi"`}},
		{`h a=b#c d=e`, []string{"h", "a=b"}},
		{`  # only a comment`, nil},
	}
	for _, tt := range tests {
		toks, err := splitINILine(tt.in)
		if err != nil {
			t.Errorf("splitINILine(%q): %v", tt.in, err)
			continue
		}
		var got []string
		for _, tok := range toks {
			got = append(got, tok.text)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("splitINILine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if _, err := splitINILine(`h a="open`); err == nil {
		t.Error(`splitINILine("h a=\"open"): no error`)
	}
}

// FuzzParseINI checks that no input makes the INI reader panic.
func FuzzParseINI(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.ini"))
		for _, path := range files {
			src, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	opts := testOptions()
	opts.Format = FormatINI
	f.Fuzz(func(t *testing.T, src []byte) {
		inv, diags := Parse(src, "testdata/valid/fuzz.ini", opts)
		if inv == nil {
			t.Fatalf("Parse returned a nil inventory (diags: %v)", diags)
		}
	})
}
