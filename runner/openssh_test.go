package runner_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"

	"github.com/smcfleet/smcfleet/internal/lang"
	"github.com/smcfleet/smcfleet/internal/sshconn"
	"github.com/smcfleet/smcfleet/internal/sshdtest"
	"github.com/smcfleet/smcfleet/inventory"
	"github.com/smcfleet/smcfleet/playbooks"
	"github.com/smcfleet/smcfleet/runner"
)

// The core cycle of smcfleet against real OpenSSH: plan touches nothing,
// apply rewrites tls-ciphers once and restarts once, a second apply does
// nothing, and the backup keeps the first original forever.

const tlsCiphersRel = "services/swos-compliance/security/tls-ciphers"

// smcDefaultCiphers is a Manager's list as shipped: it offers DHE suites,
// which AWS SES answers with a 1024-bit DH key.
const smcDefaultCiphers = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:" +
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384:" +
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-CHACHA20-POLY1305:" +
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256\n"

// ecdheCiphers is the procedure's list without DHE/EDH suites.
const ecdheCiphers = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:" +
	"TLS_AES_128_CCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:AES128-GCM-SHA256:" +
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" +
	"ECDHE-RSA-CHACHA20-POLY1305:AES256-GCM-SHA384"

const tlsCiphersPlaybook = `
variable "lancope_root" {
  type = string
}

variable "ciphers" {
  type    = string
  default = "` + ecdheCiphers + `"
}

step "file" "tls_ciphers" {
  path    = "${var.lancope_root}/services/swos-compliance/security/tls-ciphers"
  content = "${var.ciphers}\n"
  backup  = true
  notify  = ["restart"]
}

handler "command" "restart" {
  cmd = "docker restart sw-response-mgmt"
}
`

func noEnv(string) (string, bool) { return "", false }

// seedManager lays out the part of a Manager's /lancope the playbook works
// on, with neighbours that must stay untouched.
func seedManager(_, dir string) error {
	sec := filepath.Join(dir, filepath.Dir(tlsCiphersRel))
	if err := os.MkdirAll(sec, 0o755); err != nil {
		return err
	}
	for rel, data := range map[string]string{
		tlsCiphersRel: smcDefaultCiphers,
		"services/swos-compliance/security/tls-protocols":     "TLSv1.2:TLSv1.3\n",
		"services/sw-response-mgmt/conf/application.yml":      "smtp:\n  port: 587\n  starttls: true\n",
		"services/swos-compliance/security/README.smcfleet":   "untouched\n",
		"services/swos-compliance/security/keystore/cert.pem": "-----BEGIN CERTIFICATE-----\n",
	} {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(data), 0o640); err != nil {
			return err
		}
	}
	return os.Symlink("tls-ciphers", filepath.Join(sec, "ciphers.current"))
}

// countingConnector is the command line's connector (a runner.Pool over
// sshconn.Dial, as in cmd/smcfleet/dial.go) that keeps every client it
// dialled, so the test can read their Stats.
type countingConnector struct {
	*runner.Pool
	mu      sync.Mutex
	clients map[string][]*sshconn.Client
}

func newConnector(t *testing.T) *countingConnector {
	c := &countingConnector{clients: map[string][]*sshconn.Client{}}
	c.Pool = runner.NewPool(func(ctx context.Context, tg runner.Target) (runner.Conn, error) {
		h, ok := tg.Data.(*inventory.Host)
		if !ok {
			return nil, fmt.Errorf("%s: no inventory entry", tg.Name)
		}
		client, err := sshconn.Dial(ctx, sshconn.Config{
			Name: h.Name, Address: h.Address, Port: h.Port, User: h.User,
			IdentityFiles: h.IdentityFiles, UseAgent: h.SSHAgent, Password: h.Password,
			KnownHostsFile: h.KnownHosts, HostKeys: h.HostKeys,
			ConnectTimeout: h.ConnectTimeout,
		})
		if err != nil {
			return nil, err // never a nil *Client in the interface
		}
		c.mu.Lock()
		c.clients[h.Name] = append(c.clients[h.Name], client)
		c.mu.Unlock()
		return client, nil
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// checkOneConnection checks each host was dialled once, over one SSH
// connection.
func (c *countingConnector) checkOneConnection(t *testing.T, hosts []*inventory.Host) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range hosts {
		clients := c.clients[h.Name]
		if len(clients) != 1 {
			t.Errorf("%s: dialled %d times, want 1", h.Name, len(clients))
			continue
		}
		if st := clients[0].Stats(); st.Connections != 1 {
			t.Errorf("%s: Stats().Connections = %d, want 1 (%+v)", h.Name, st.Connections, st)
		}
	}
}

// cycle is a loaded inventory and playbook for the fleet, as
// cmd/smcfleet's loadAll prepares them.
type cycle struct {
	fleet *sshdtest.Fleet
	hosts []*inventory.Host
	pb    *playbooks.Playbook
	kinds runner.Registry
}

func newCycle(t *testing.T, f *sshdtest.Fleet) *cycle {
	t.Helper()
	src := f.InventoryHCL()
	inv, diags := inventory.Parse([]byte(src), filepath.Join(f.Dir, "inventory.hcl"), inventory.LoadOptions{Getenv: noEnv})
	if diags.HasErrors() {
		t.Fatalf("inventory: %s\n%s", diags.Error(), src)
	}
	hosts, err := inv.Select("")
	if err != nil {
		t.Fatal(err)
	}
	kinds := runner.DefaultKinds()
	fsys := fstest.MapFS{"tls-ciphers.hcl": {Data: []byte(tlsCiphersPlaybook)}}
	pb, diags := playbooks.LoadFS(fsys, "tls-ciphers.hcl", playbooks.Options{Kinds: kinds.Schemas(), Getenv: noEnv})
	if diags.HasErrors() {
		t.Fatalf("playbook: %s", diags.Error())
	}
	return &cycle{fleet: f, hosts: hosts, pb: pb, kinds: kinds}
}

// targets resolves the variables per host; assignments are --var flags.
func (c *cycle) targets(t *testing.T, assignments ...string) []runner.Target {
	t.Helper()
	vs, diags := c.pb.PrepareVars(playbooks.VarInputs{Assignments: assignments, Getenv: noEnv})
	if diags.HasErrors() {
		t.Fatalf("vars: %s", diags.Error())
	}
	var targets []runner.Target
	var hostDiags hcl.Diagnostics
	for _, h := range c.hosts {
		vals, _, d := vs.ForHost(h.Name, h.Vars)
		hostDiags = append(hostDiags, d...)
		secrets := h.Secrets()
		for _, v := range vals {
			secrets = append(secrets, lang.SecretStrings(v)...)
		}
		targets = append(targets, runner.Target{
			Name:    h.Name,
			Address: fmt.Sprintf("%s:%d", h.Address, h.Port),
			Info:    playbooks.HostInfo{Name: h.Name, Address: h.Address, Groups: h.Groups, Vars: h.Vars},
			Vars:    vals,
			Secrets: secrets,
			Data:    h,
		})
	}
	if hostDiags.HasErrors() {
		t.Fatalf("vars: %s", hostDiags.Error())
	}
	return targets
}

// run runs one smcfleet command (plan or apply) with a connector of its
// own, and checks it connected once per host.
func (c *cycle) run(t *testing.T, mode runner.Mode, assignments ...string) *runner.Report {
	t.Helper()
	conn := newConnector(t)
	rep := runner.Run(context.Background(), runner.Options{
		Mode:      mode,
		Playbook:  c.pb,
		Kinds:     c.kinds,
		Targets:   c.targets(t, assignments...),
		Connector: conn,
		Forks:     len(c.hosts),
	})
	conn.checkOneConnection(t, c.hosts)
	if len(rep.Hosts) != len(c.hosts) {
		t.Fatalf("%s: %d host results, want %d", mode, len(rep.Hosts), len(c.hosts))
	}
	return rep
}

// describe prints a host result for failure messages.
func describe(hr *runner.HostResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s", hr.Name, hr.Status, hr.Error)
	for _, r := range append(append([]*runner.StepResult{}, hr.Steps...), hr.Handlers...) {
		fmt.Fprintf(&b, "\n  %s: %s/%s %s %s", r.Address, r.Action, r.Status, r.Reason, r.Error)
	}
	return b.String()
}

func stepStatus(hr *runner.HostResult, address string) string {
	for _, r := range append(append([]*runner.StepResult{}, hr.Steps...), hr.Handlers...) {
		if r.Address == address {
			return r.Status
		}
	}
	return "(absent)"
}

// tree maps every path under dir to its type, mode, mtime and content hash
// (or link target).
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		desc := fmt.Sprintf("%v mtime=%d", fi.Mode(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			desc += " sha256=" + hex.EncodeToString(sum[:])
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffTrees(before, after map[string]string) []string {
	var diffs []string
	for p, b := range before {
		if a, ok := after[p]; !ok {
			diffs = append(diffs, "removed "+p)
		} else if a != b {
			diffs = append(diffs, fmt.Sprintf("changed %s: %s -> %s", p, b, a))
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, "added "+p)
		}
	}
	slices.Sort(diffs)
	return diffs
}

var restartLine = regexp.MustCompile(`^restart sw-response-mgmt \d+$`)

// restarts counts the fake docker's restarts of sw-response-mgmt.
func restarts(t *testing.T, h *sshdtest.Host) int {
	t.Helper()
	data, err := os.ReadFile(h.DockerLog)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		if !restartLine.MatchString(line) {
			t.Errorf("%s: unexpected docker log line %q", h.Name, line)
			continue
		}
		n++
	}
	return n
}

// accepted counts the connections the host's sshd authenticated.
func accepted(t *testing.T, h *sshdtest.Host) int {
	t.Helper()
	data, err := os.ReadFile(h.SSHDLog)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "Accepted publickey for root")
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestOpenSSHTLSCiphersCycle(t *testing.T) {
	f := sshdtest.Start(t, sshdtest.Options{Hosts: 3, Seed: seedManager})
	c := newCycle(t, f)
	ciphers := func(h *sshdtest.Host) string { return filepath.Join(h.LancopeDir, tlsCiphersRel) }
	const fileStep, handler = "file.tls_ciphers", "handler.command.restart"

	// checkHosts checks, after each command, the restarts so far and that
	// each host accepted exactly one more connection.
	connections := 0
	checkHosts := func(t *testing.T, wantRestarts int) {
		t.Helper()
		connections++
		for _, h := range f.Hosts {
			if got := restarts(t, h); got != wantRestarts {
				t.Errorf("%s: %d restarts of sw-response-mgmt, want %d", h.Name, got, wantRestarts)
			}
			if got := accepted(t, h); got != connections {
				t.Errorf("%s: sshd accepted %d connections after %d commands, want one each", h.Name, got, connections)
			}
		}
	}

	t.Run("plan", func(t *testing.T) {
		before := map[string]map[string]string{}
		for _, h := range f.Hosts {
			before[h.Name] = tree(t, h.LancopeDir)
		}
		rep := c.run(t, runner.ModePlan)
		for _, hr := range rep.Hosts {
			if hr.Status != runner.HostChanged || stepStatus(hr, fileStep) != runner.StepPlanned {
				t.Errorf("plan: want changes pending\n%s", describe(hr))
			}
			if diff := hr.Steps[0].Diff; !strings.Contains(diff, "-"+smcDefaultCiphers[:20]) || !strings.Contains(diff, "+"+ecdheCiphers[:20]) {
				t.Errorf("%s: plan diff does not show the rewrite:\n%s", hr.Name, diff)
			}
		}
		for _, h := range f.Hosts {
			if d := diffTrees(before[h.Name], tree(t, h.LancopeDir)); len(d) > 0 {
				t.Errorf("%s: plan changed /lancope:\n%s", h.Name, strings.Join(d, "\n"))
			}
		}
		checkHosts(t, 0)
	})
	if t.Failed() {
		return // applying after a plan that wrote would hide the cause
	}

	t.Run("apply", func(t *testing.T) {
		before := map[string]map[string]string{}
		for _, h := range f.Hosts {
			before[h.Name] = tree(t, h.LancopeDir)
		}
		rep := c.run(t, runner.ModeApply)
		if rep.Summary.HostsChange != len(f.Hosts) || rep.Summary.Failed != 0 {
			t.Errorf("apply summary %+v, want all %d hosts changed", rep.Summary, len(f.Hosts))
		}
		for _, hr := range rep.Hosts {
			if hr.Status != runner.HostChanged || stepStatus(hr, fileStep) != runner.StepChanged || stepStatus(hr, handler) != runner.StepChanged {
				t.Errorf("apply: want the file changed and the handler run\n%s", describe(hr))
			}
		}
		for _, h := range f.Hosts {
			if got := readFile(t, ciphers(h)); got != ecdheCiphers+"\n" {
				t.Errorf("%s: tls-ciphers = %q, want the ECDHE list", h.Name, got)
			}
			if got := readFile(t, ciphers(h)+".bak"); got != smcDefaultCiphers {
				t.Errorf("%s: tls-ciphers.bak = %q, want the original", h.Name, got)
			}
			for _, p := range []string{ciphers(h), ciphers(h) + ".bak"} {
				if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o640 {
					t.Errorf("%s: mode = %v, %v; want the original 0640 kept", p, fi.Mode(), err)
				}
			}
			// Only the two files changed: no temp file left, no neighbour touched.
			var changed []string
			for _, d := range diffTrees(before[h.Name], tree(t, h.LancopeDir)) {
				if !strings.HasPrefix(d, "changed "+filepath.Dir(tlsCiphersRel)+": ") {
					changed = append(changed, strings.SplitN(d, ":", 2)[0])
				}
			}
			if want := []string{"added " + tlsCiphersRel + ".bak", "changed " + tlsCiphersRel}; !slices.Equal(changed, want) {
				t.Errorf("%s: apply changed %q, want %q", h.Name, changed, want)
			}
		}
		checkHosts(t, 1)
	})

	t.Run("apply again", func(t *testing.T) {
		rep := c.run(t, runner.ModeApply)
		if rep.Summary.Changed != 0 || rep.Summary.Failed != 0 {
			t.Errorf("second apply summary %+v, want nothing changed", rep.Summary)
		}
		for _, hr := range rep.Hosts {
			if hr.Status != runner.HostOK {
				t.Errorf("second apply: want ok\n%s", describe(hr))
			}
		}
		checkHosts(t, 1)
	})

	t.Run("apply other content", func(t *testing.T) {
		const other = "TLS_AES_256_GCM_SHA384:ECDHE-RSA-AES256-GCM-SHA384"
		rep := c.run(t, runner.ModeApply, "ciphers="+other)
		if rep.Summary.HostsChange != len(f.Hosts) || rep.Summary.Failed != 0 {
			t.Errorf("apply summary %+v, want all %d hosts changed", rep.Summary, len(f.Hosts))
		}
		for _, h := range f.Hosts {
			if got := readFile(t, ciphers(h)); got != other+"\n" {
				t.Errorf("%s: tls-ciphers = %q, want %q", h.Name, got, other+"\n")
			}
			if got := readFile(t, ciphers(h)+".bak"); got != smcDefaultCiphers {
				t.Errorf("%s: tls-ciphers.bak = %q, want still the ORIGINAL", h.Name, got)
			}
		}
		checkHosts(t, 2)
	})
}
