package inventory

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

const sshConfigSrc = `
# A typical ~/.ssh/config.
Host smc-east
  HostName 127.0.0.1
  Port 2222
  User admin
  IdentityFile ~/k

Host smc-behind
  HostName 10.0.0.5
  ProxyJump bastion,admin@hop2.example.com:2022

Host bastion
  HostName 203.0.113.1
  User jumper
  Port 2201
  IdentityFile ~/.ssh/%r@%h
  ProxyJump outer

Host outer
  HostName 198.51.100.1
  UserKnownHostsFile ~/.ssh/outer_known_hosts

Host loop-a
  ProxyJump loop-b
Host loop-b
  ProxyJump loop-a

Host *.lab
  User labuser
  ConnectTimeout 3
  IdentityAgent none
  UserKnownHostsFile ~/.ssh/lab_known_hosts %d/other

Host *
  Port 2200
`

// sshTest writes the ssh_config into a temporary home and returns load
// options whose HOME is that directory.
func sshTest(t *testing.T, config string) (LoadOptions, string) {
	t.Helper()
	home := t.TempDir()
	if config != "" {
		if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"HOME": home, "USER": "tester"}
	return LoadOptions{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}, home
}

func parseWith(t *testing.T, src string, opts LoadOptions) (*Inventory, hcl.Diagnostics) {
	t.Helper()
	return Parse([]byte(src), testFile, opts)
}

func mustParseWith(t *testing.T, src string, opts LoadOptions) *Inventory {
	t.Helper()
	inv, diags := parseWith(t, src, opts)
	if len(diags) > 0 {
		t.Fatalf("Parse:\n%s", renderDiags(inv, diags))
	}
	return inv
}

func TestSSHConfigFillsUnsetFields(t *testing.T) {
	opts, home := sshTest(t, sshConfigSrc)
	inv := mustParseWith(t, `
host "east" { address = "smc-east" }
host "smc-east" {}
host "port-wins" {
  address = "smc-east"
  port    = 22
  user    = "root"
  identity_files = ["/keys/mine"]
}
host "plain" { address = "10.9.9.9" }
host "box.lab" { known_hosts = "/kh" }
host "pinned.lab" { host_keys = ["SHA256:nP1Wb13j5KgnoFl91BSZ/aP18yd0IIEbRczss4r0eGs"] }
host "agent.lab" {
  ssh_agent       = true
  connect_timeout = "20s"
}
`, opts)
	cfg := filepath.Join(home, ".ssh", "config")
	tests := []struct {
		host, what string
		get        func(*Host) any
		want       any
	}{
		{"east", "address (HostName)", func(h *Host) any { return h.Address }, "127.0.0.1"},
		{"east", "port", func(h *Host) any { return h.Port }, 2222},
		{"east", "user", func(h *Host) any { return h.User }, "admin"},
		{"east", "identity_files", func(h *Host) any { return strings.Join(h.IdentityFiles, ",") }, filepath.Join(home, "k")},
		{"east", "known_hosts (default)", func(h *Host) any { return h.KnownHosts }, filepath.Join(home, ".ssh/known_hosts")},
		{"east", "SSHConfig", func(h *Host) any { return h.SSHConfig }, cfg},
		{"smc-east", "address (the name is the alias)", func(h *Host) any { return h.Address }, "127.0.0.1"},
		{"port-wins", "port (inventory wins)", func(h *Host) any { return h.Port }, 22},
		{"port-wins", "user (inventory wins)", func(h *Host) any { return h.User }, "root"},
		{"port-wins", "identity_files (inventory wins)", func(h *Host) any { return strings.Join(h.IdentityFiles, ",") }, "/keys/mine"},
		{"port-wins", "address (HostName still maps the alias)", func(h *Host) any { return h.Address }, "127.0.0.1"},
		{"plain", "port (Host *)", func(h *Host) any { return h.Port }, 2200},
		{"plain", "user (local)", func(h *Host) any { return h.User }, "tester"},
		{"box.lab", "user (Host *.lab)", func(h *Host) any { return h.User }, "labuser"},
		{"box.lab", "known_hosts (inventory wins)", func(h *Host) any { return h.KnownHosts }, "/kh"},
		{"box.lab", "connect_timeout", func(h *Host) any { return h.ConnectTimeout }, 3 * time.Second},
		{"box.lab", "ssh_agent (IdentityAgent none)", func(h *Host) any { return h.SSHAgent }, false},
		{"pinned.lab", "known_hosts (pins only)", func(h *Host) any { return h.KnownHosts }, ""},
		{"agent.lab", "known_hosts (UserKnownHostsFile, first file)", func(h *Host) any { return h.KnownHosts }, filepath.Join(home, ".ssh/lab_known_hosts")},
		{"agent.lab", "ssh_agent (inventory wins)", func(h *Host) any { return h.SSHAgent }, true},
		{"agent.lab", "connect_timeout (inventory wins)", func(h *Host) any { return h.ConnectTimeout }, 20 * time.Second},
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
	if v := inv.Host("east").View(); v.SSHConfig != cfg || v.Address != "127.0.0.1" {
		t.Errorf("View: got ssh_config %q address %q", v.SSHConfig, v.Address)
	}
}

func TestSSHConfigProxyJump(t *testing.T) {
	opts, home := sshTest(t, sshConfigSrc)
	inv := mustParseWith(t, `
host "behind" { address = "smc-behind" }
host "own-jump" {
  address = "smc-behind"
  jump    = []
}
`, opts)
	h := inv.Host("behind")
	if got, want := strings.Join(h.Jump, ","), "bastion,admin@hop2.example.com:2022"; got != want {
		t.Fatalf("jump: got %q, want %q", got, want)
	}
	chain, err := inv.JumpChain(h)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, hop := range chain {
		got = append(got, hop.Name+"="+hop.User+"@"+hop.Address+":"+itoa(hop.Port))
	}
	// bastion's own ProxyJump (outer) comes first, as ssh -J does; later
	// hops are reached through the hop before them. A hop without a user
	// takes the user of the host it leads to (bastion's, for outer).
	want := "outer=jumper@198.51.100.1:2200 bastion=jumper@203.0.113.1:2201 admin@hop2.example.com:2022=admin@hop2.example.com:2022"
	if strings.Join(got, " ") != want {
		t.Errorf("chain:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if got, want := strings.Join(chain[1].IdentityFiles, ","), filepath.Join(home, ".ssh/jumper@203.0.113.1"); got != want {
		t.Errorf("bastion identity: got %q, want %q", got, want)
	}
	if got, want := chain[0].KnownHosts, filepath.Join(home, ".ssh/outer_known_hosts"); got != want {
		t.Errorf("outer known_hosts: got %q, want %q", got, want)
	}
	if j := inv.Host("own-jump").Jump; len(j) != 0 {
		t.Errorf("jump = [] must win over ProxyJump, got %q", j)
	}
}

func TestSSHConfigProxyJumpCycle(t *testing.T) {
	opts, _ := sshTest(t, sshConfigSrc)
	inv, diags := parseWith(t, `host "a" { address = "loop-a" }`, opts)
	if !diags.HasErrors() || !strings.Contains(renderDiags(inv, diags), "jump cycle") {
		t.Errorf("want a jump cycle error, got:\n%s", renderDiags(inv, diags))
	}
}

func TestSSHConfigChoice(t *testing.T) {
	opts, home := sshTest(t, sshConfigSrc)
	other := filepath.Join(home, "other_config")
	if err := os.WriteFile(other, []byte("Host smc-east\n  HostName 10.1.1.1\n  User other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `
group "g-own" { ssh_config = "` + other + `" }
group "g-none" { ssh_config = "" }
host "default" { address = "smc-east" }
host "own" {
  address = "smc-east"
  groups  = ["g-own"]
}
host "none" {
  address = "smc-east"
  groups  = ["g-none"]
}
host "host-wins" {
  address    = "smc-east"
  groups     = ["g-none"]
  ssh_config = "~/other_config"
}
`
	inv := mustParseWith(t, src, opts)
	for name, want := range map[string]string{
		"default": "admin@127.0.0.1", "own": "other@10.1.1.1",
		"none": "tester@smc-east", "host-wins": "other@10.1.1.1",
	} {
		h := inv.Host(name)
		if got := h.User + "@" + h.Address; got != want {
			t.Errorf("%s: got %s, want %s", name, got, want)
		}
	}
	if got := inv.Host("none").SSHConfig; got != "" {
		t.Errorf(`ssh_config = "": SSHConfig = %q`, got)
	}

	// The environment variable and the option replace ~/.ssh/config.
	env := map[string]string{"HOME": home, "USER": "tester", SSHConfigEnv: other}
	envOpts := LoadOptions{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	h := mustParseWith(t, `host "h" { address = "smc-east" }`, envOpts).Host("h")
	if got := h.User + "@" + h.Address; got != "other@10.1.1.1" {
		t.Errorf("$%s: got %s", SSHConfigEnv, got)
	}
	env[SSHConfigEnv] = ""
	h = mustParseWith(t, `host "h" { address = "smc-east" }`, envOpts).Host("h")
	if got := h.User + "@" + h.Address; got != "tester@smc-east" {
		t.Errorf("empty $%s: got %s", SSHConfigEnv, got)
	}
	envOpts.SSHConfig = filepath.Join(home, ".ssh", "config")
	h = mustParseWith(t, `host "h" { address = "smc-east" }`, envOpts).Host("h")
	if got := h.User + "@" + h.Address; got != "admin@127.0.0.1" {
		t.Errorf("LoadOptions.SSHConfig: got %s", got)
	}
	opts.SSHConfig = "none"
	h = mustParseWith(t, `host "h" { address = "smc-east" }`, opts).Host("h")
	if got := h.User + "@" + h.Address; got != "tester@smc-east" {
		t.Errorf(`LoadOptions.SSHConfig "none": got %s`, got)
	}
}

func TestSSHConfigErrors(t *testing.T) {
	// No ~/.ssh/config: nothing to apply, no diagnostic.
	opts, home := sshTest(t, "")
	h := mustParseWith(t, `host "h" { address = "smc-east" }`, opts).Host("h")
	if h.Address != "smc-east" || h.SSHConfig != "" {
		t.Errorf("no config: got %s, SSHConfig %q", h.Address, h.SSHConfig)
	}

	// A file named in the inventory must exist.
	inv, diags := parseWith(t, `host "h" { ssh_config = "missing" }`, opts)
	if len(diags) != 1 || diags[0].Summary != "Cannot use ssh_config" || diags[0].Subject == nil || diags[0].Subject.Start.Line != 1 {
		t.Errorf("missing ssh_config: got\n%s", renderDiags(inv, diags))
	}

	// A ~/.ssh/config this parser cannot read is a warning, and ignored.
	opts, _ = sshTest(t, "Match host foo\n  User x\n")
	inv, diags = parseWith(t, `host "h" {}`, opts)
	if diags.HasErrors() || len(diags) != 1 || diags[0].Severity != hcl.DiagWarning {
		t.Errorf("unparsable ~/.ssh/config: got\n%s", renderDiags(inv, diags))
	}

	// Bad values are errors at the host.
	opts, _ = sshTest(t, "Host bad\n  Port http\n  HostName -x\n")
	inv, diags = parseWith(t, `host "h" { address = "bad" }`, opts)
	if !diags.HasErrors() || !strings.Contains(renderDiags(inv, diags), `Port setting "http"`) || !strings.Contains(renderDiags(inv, diags), `HostName "-x"`) {
		t.Errorf("bad values: got\n%s", renderDiags(inv, diags))
	}
	_ = home
}

func TestSSHConfigINI(t *testing.T) {
	opts, _ := sshTest(t, sshConfigSrc)
	inv := mustParseWith(t, "[smc]\nsmc-east\nsmc-02 ansible_host=smc-east ansible_port=22\n", withFormat(opts, FormatINI))
	for name, want := range map[string]string{"smc-east": "admin@127.0.0.1:2222", "smc-02": "admin@127.0.0.1:22"} {
		h := inv.Host(name)
		if got := h.User + "@" + h.Address + ":" + itoa(h.Port); got != want {
			t.Errorf("%s: got %s, want %s", name, got, want)
		}
	}
}

func withFormat(o LoadOptions, f string) LoadOptions {
	o.Format = f
	return o
}

func TestExpandTokens(t *testing.T) {
	got, err := expandTokens("%d/.ssh/%r@%h:%p%%", map[byte]string{'d': "/home/u", 'r': "root", 'h': "10.0.0.1", 'p': "22"})
	if err != nil || got != "/home/u/.ssh/root@10.0.0.1:22%" {
		t.Errorf("got %q, %v", got, err)
	}
	for _, bad := range []string{"%C", "trailing%"} {
		if _, err := expandTokens(bad, nil); err == nil {
			t.Errorf("expandTokens(%q): no error", bad)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
