package runner_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smcfleet/smcfleet/internal/lab/labca"
	"github.com/smcfleet/smcfleet/internal/lab/ses"
	"github.com/smcfleet/smcfleet/internal/sshdtest"
	"github.com/smcfleet/smcfleet/inventory"
	"github.com/smcfleet/smcfleet/playbooks"
	"github.com/smcfleet/smcfleet/runner"
)

// The bundled dh-cipher-fix playbook against real OpenSSH hosts whose
// /etc/hosts sends email-smtp.us-east-1.amazonaws.com to a simulated SES on
// port 587 that, in legacy-DHE mode, answers a DHE-preferring client with a
// real 1024-bit group (an `openssl s_server`): the probe sees the weak
// group, apply rewrites tls-ciphers once and restarts sw-response-mgmt
// once, a second apply does nothing, and once SES stops offering DHE the
// probe says so and nothing is left to change.

// dheManagerCiphers is internal/lab/manager.go's DefaultCiphers: a
// Manager's stock list, with DHE suites.
const dheManagerCiphers = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:" +
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384:" +
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-CHACHA20-POLY1305:" +
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:" +
	"ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:DHE-RSA-AES256-SHA256:" +
	"ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:DHE-RSA-AES128-SHA256\n"

const (
	dheRegion      = "us-east-1"
	dheProbeStep   = "tls_probe.probe"
	dheFileStep    = "file.tls_ciphers"
	dheRestartStep = "handler.command.restart_response_mgmt"
	dheVerifyStep  = "handler.command.verify_response_mgmt"
)

// dheSeedManager lays out the Manager files dh-cipher-fix works on, and a
// neighbour that must stay untouched.
func dheSeedManager(_, dir string) error {
	for rel, data := range map[string]string{
		tlsCiphersRel: dheManagerCiphers,
		"services/swos-compliance/security/tls-protocols": "TLSv1.2:TLSv1.3\n",
		"services/sw-response-mgmt/conf/application.yml":  "smtp:\n  host: email-smtp.us-east-1.amazonaws.com\n  port: 587\n  starttls: true\n",
	} {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(data), 0o640); err != nil {
			return err
		}
	}
	return nil
}

// startDHESES starts a simulated SES for us-east-1 in legacy-DHE mode with
// STARTTLS on port 587 of a loopback address of its own, outside the
// fleet's 127.0.0.N: the first free one of 127.0.2.1 to 127.0.2.32 (other
// test processes may hold one).
func startDHESES(t *testing.T) *ses.Server {
	t.Helper()
	if os.Geteuid() != 0 {
		dheSkipOrFail(t, "the simulated SES listens on port 587, which needs root")
	}
	if !ses.OpenSSLAvailable("openssl") {
		dheSkipOrFail(t, "openssl is not installed (legacy-DHE SES runs openssl s_server)")
	}
	chain, err := labca.NewSESChain(labca.Options{Region: dheRegion, CrossSigned: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 32; i++ {
		addr := fmt.Sprintf("127.0.2.%d", i)
		srv, err := ses.Start(ses.Options{
			Chain:           chain,
			Users:           map[string]string{"AKIALABSMTPUSER": "lab-smtp-password"},
			VerifiedDomains: []string{"example.com"},
			LegacyDHE:       true,
			Addr:            addr,
			STARTTLSListen:  []string{addr + ":587"},
		})
		if errors.Is(err, syscall.EADDRINUSE) {
			continue
		}
		if err != nil {
			t.Fatalf("ses: %v", err)
		}
		t.Cleanup(func() { srv.Close() })
		return srv
	}
	t.Fatal("ses: port 587 is taken on 127.0.2.1 to 127.0.2.32")
	return nil
}

func dheSkipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but the DHE test cannot run: %s", why)
	}
	t.Skipf("skipping: %s", why)
}

// newDHECycle loads the fleet's inventory and the bundled dh-cipher-fix.
func newDHECycle(t *testing.T, f *sshdtest.Fleet) *cycle {
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
	pb, diags := playbooks.LoadFS(playbooks.Bundled, "dh-cipher-fix", playbooks.Options{Kinds: kinds.Schemas(), Getenv: noEnv})
	if diags.HasErrors() {
		t.Fatalf("playbook: %s", diags.Error())
	}
	return &cycle{fleet: f, hosts: hosts, pb: pb, kinds: kinds}
}

// dheApplyForks: every host applies at once (each sshdtest host has its
// own /root, where the handlers keep the restart time).
const dheApplyForks = 0

// runForks is cycle.run with a given number of forks (0: one per host).
func (c *cycle) runForks(t *testing.T, mode runner.Mode, forks int, assignments ...string) *runner.Report {
	t.Helper()
	if forks == 0 {
		forks = len(c.hosts)
	}
	conn := newConnector(t)
	rep := runner.Run(context.Background(), runner.Options{
		Mode:      mode,
		Playbook:  c.pb,
		Kinds:     c.kinds,
		Targets:   c.targets(t, assignments...),
		Connector: conn,
		Forks:     forks,
	})
	conn.checkOneConnection(t, c.hosts)
	if len(rep.Hosts) != len(c.hosts) {
		t.Fatalf("%s: %d host results, want %d", mode, len(rep.Hosts), len(c.hosts))
	}
	return rep
}

func stepResult(hr *runner.HostResult, address string) *runner.StepResult {
	for _, r := range append(append([]*runner.StepResult{}, hr.Steps...), hr.Handlers...) {
		if r.Address == address {
			return r
		}
	}
	return nil
}

// checkProbe checks the probe's outputs on every host.
func checkProbe(t *testing.T, rep *runner.Report, wantDHE bool, wantBits float64) {
	t.Helper()
	for _, hr := range rep.Hosts {
		if len(hr.Steps) == 0 || hr.Steps[0].Address != dheProbeStep {
			t.Errorf("%s: first step is not %s\n%s", hr.Name, dheProbeStep, describe(hr))
			continue
		}
		p := hr.Steps[0]
		if p.Status != runner.StepUnchanged || p.Error != "" {
			t.Errorf("%s: probe %s %s, want a read-only success\n%s", hr.Name, p.Status, p.Error, describe(hr))
		}
		if got := p.Outputs["dhe_offered"]; got != wantDHE {
			t.Errorf("%s: dhe_offered = %v, want %v (%s; outputs %v)", hr.Name, got, wantDHE, p.Summary, p.Outputs)
		}
		if got := p.Outputs["dh_bits"]; got != wantBits {
			t.Errorf("%s: dh_bits = %v (%T), want %v (%s)", hr.Name, got, got, wantBits, p.Summary)
		}
		if got, _ := p.Outputs["endpoint"].(string); got != labca.EndpointName(dheRegion)+":587" {
			t.Errorf("%s: probe endpoint = %q", hr.Name, got)
		}
	}
}

// checkSpliced checks that each host's DHE handshake reached openssl
// (legacy on) or none did (legacy off), since the last Reset.
func checkSpliced(t *testing.T, srv *ses.Server, want int) {
	t.Helper()
	n := 0
	for _, e := range srv.Events() {
		if e.Kind == ses.EventDHESpliced {
			n++
		}
	}
	if n != want {
		t.Errorf("SES spliced %d connections to openssl, want %d; events: %+v", n, want, srv.Events())
	}
}

// dockerStartedAt reads the fake docker's StartedAt of sw-response-mgmt
// on host h (its state file sits next to DockerLog) and checks that
// `date -d` reads it as the same second.
func dockerStartedAt(t *testing.T, h *sshdtest.Host) time.Time {
	t.Helper()
	state := readFile(t, filepath.Join(filepath.Dir(h.DockerLog), "docker", "sw-response-mgmt"))
	var raw string
	for _, line := range strings.Split(state, "\n") {
		if v, ok := strings.CutPrefix(line, "started_at="); ok {
			raw = v
		}
	}
	at, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		t.Fatalf("%s: fake docker started_at %q is not RFC 3339: %v", h.Name, raw, err)
	}
	out, err := exec.Command("date", "-d", raw, "+%s").Output()
	if err != nil {
		t.Fatalf("%s: date -d %q: %v", h.Name, raw, err)
	}
	if secs, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); secs != at.Unix() {
		t.Errorf("%s: date -d %q = %d, want %d", h.Name, raw, secs, at.Unix())
	}
	return at
}

// restartTimes are the unix times of the restarts in h's DockerLog.
func restartTimes(t *testing.T, h *sshdtest.Host) []int64 {
	t.Helper()
	var out []int64
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, h.DockerLog)), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "restart" {
			n, _ := strconv.ParseInt(f[2], 10, 64)
			out = append(out, n)
		}
	}
	return out
}

func TestOpenSSHDHEFix(t *testing.T) {
	srv := startDHESES(t)
	sesHost, _, _ := strings.Cut(srv.STARTTLSAddr(), ":")
	f := sshdtest.Start(t, sshdtest.Options{
		Hosts:        5,
		HostsEntries: map[string]string{labca.EndpointName(dheRegion): sesHost},
		Seed:         dheSeedManager,
	})
	c := newDHECycle(t, f)
	region := "region=" + dheRegion
	ciphers := func(h *sshdtest.Host) string { return filepath.Join(h.LancopeDir, tlsCiphersRel) }
	startedBefore := map[string]time.Time{}
	for _, h := range f.Hosts {
		startedBefore[h.Name] = dockerStartedAt(t, h)
	}

	connections := 0
	checkHosts := func(t *testing.T, wantRestarts int) {
		t.Helper()
		connections++
		for _, h := range f.Hosts {
			if got := restarts(t, h); got != wantRestarts {
				t.Errorf("%s: %d restarts of sw-response-mgmt, want %d:\n%s", h.Name, got, wantRestarts, readFile(t, h.DockerLog))
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
		srv.Reset()
		rep := c.run(t, runner.ModePlan, region)
		checkProbe(t, rep, true, 1024)
		checkSpliced(t, srv, len(f.Hosts))
		for _, hr := range rep.Hosts {
			if hr.Status != runner.HostChanged || stepStatus(hr, dheFileStep) != runner.StepPlanned {
				t.Errorf("plan: want the file step planned\n%s", describe(hr))
			}
			if fr := stepResult(hr, dheFileStep); fr != nil && (!strings.Contains(fr.Diff, "DHE-RSA-AES256-GCM-SHA384") || !strings.Contains(fr.Diff, "+"+ecdheCiphers[:20])) {
				t.Errorf("%s: plan diff does not show the rewrite:\n%s", hr.Name, fr.Diff)
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
		return
	}

	t.Run("apply", func(t *testing.T) {
		before := map[string]map[string]string{}
		for _, h := range f.Hosts {
			before[h.Name] = tree(t, h.LancopeDir)
		}
		applyStart := time.Now().Unix()
		rep := c.runForks(t, runner.ModeApply, dheApplyForks, region)
		checkProbe(t, rep, true, 1024)
		if rep.Summary.HostsChange != len(f.Hosts) || rep.Summary.Failed != 0 {
			t.Errorf("apply summary %+v, want all %d hosts changed", rep.Summary, len(f.Hosts))
		}
		for _, hr := range rep.Hosts {
			if hr.Status != runner.HostChanged || stepStatus(hr, dheFileStep) != runner.StepChanged ||
				stepStatus(hr, dheRestartStep) != runner.StepChanged || stepStatus(hr, dheVerifyStep) != runner.StepChanged {
				t.Errorf("apply: want the file changed, the restart and the verify handlers run\n%s", describe(hr))
				continue
			}
			if out, _ := stepResult(hr, dheVerifyStep).Outputs["stdout"].(string); !strings.HasPrefix(out, "sw-response-mgmt running, started ") {
				t.Errorf("%s: verify handler printed %q", hr.Name, out)
			}
		}
		for _, h := range f.Hosts {
			if got := readFile(t, ciphers(h)); got != ecdheCiphers+"\n" {
				t.Errorf("%s: tls-ciphers = %q, want the ECDHE list", h.Name, got)
			}
			if got := readFile(t, ciphers(h)+".bak"); got != dheManagerCiphers {
				t.Errorf("%s: tls-ciphers.bak = %q, want the original", h.Name, got)
			}
			var changed []string
			for _, d := range diffTrees(before[h.Name], tree(t, h.LancopeDir)) {
				if !strings.HasPrefix(d, "changed "+filepath.Dir(tlsCiphersRel)+": ") {
					changed = append(changed, strings.SplitN(d, ":", 2)[0])
				}
			}
			if want := []string{"added " + tlsCiphersRel + ".bak", "changed " + tlsCiphersRel}; strings.Join(changed, "|") != strings.Join(want, "|") {
				t.Errorf("%s: apply changed %q, want %q", h.Name, changed, want)
			}
			// The fake docker moved StartedAt to the restart.
			started := dockerStartedAt(t, h)
			if !started.After(startedBefore[h.Name]) {
				t.Errorf("%s: StartedAt %v did not move on restart (was %v)", h.Name, started, startedBefore[h.Name])
			}
			if rt := restartTimes(t, h); len(rt) == 1 && (rt[0] < applyStart || started.Unix() < rt[0]) {
				t.Errorf("%s: restart logged at %d, StartedAt %v, apply started %d", h.Name, rt[0], started, applyStart)
			}
		}
		checkHosts(t, 1)
	})

	t.Run("apply again", func(t *testing.T) {
		rep := c.runForks(t, runner.ModeApply, dheApplyForks, region)
		checkProbe(t, rep, true, 1024)
		if rep.Summary.Changed != 0 || rep.Summary.Failed != 0 {
			t.Errorf("second apply summary %+v, want nothing changed", rep.Summary)
		}
		for _, hr := range rep.Hosts {
			if hr.Status != runner.HostOK || stepStatus(hr, dheFileStep) != runner.StepUnchanged || len(hr.Handlers) != 0 {
				t.Errorf("second apply: want ok, the file unchanged, no handler\n%s", describe(hr))
			}
		}
		for _, h := range f.Hosts {
			if got := readFile(t, ciphers(h)+".bak"); got != dheManagerCiphers {
				t.Errorf("%s: tls-ciphers.bak = %q, want still the original", h.Name, got)
			}
		}
		checkHosts(t, 1)
	})

	t.Run("plan without legacy DHE", func(t *testing.T) {
		if err := srv.SetLegacyDHE(false); err != nil {
			t.Fatal(err)
		}
		before := map[string]map[string]string{}
		for _, h := range f.Hosts {
			before[h.Name] = tree(t, h.LancopeDir)
		}
		srv.Reset()
		rep := c.run(t, runner.ModePlan, region)
		checkProbe(t, rep, false, 0)
		checkSpliced(t, srv, 0)
		if rep.Summary.Changed != 0 || rep.Summary.Failed != 0 {
			t.Errorf("plan summary %+v, want nothing to change", rep.Summary)
		}
		for _, hr := range rep.Hosts {
			if hr.Status != runner.HostOK || stepStatus(hr, dheFileStep) != runner.StepSkipped || len(hr.Handlers) != 0 {
				t.Errorf("plan: want ok with the file step skipped\n%s", describe(hr))
			}
		}
		for _, h := range f.Hosts {
			if d := diffTrees(before[h.Name], tree(t, h.LancopeDir)); len(d) > 0 {
				t.Errorf("%s: plan changed /lancope:\n%s", h.Name, strings.Join(d, "\n"))
			}
		}
		checkHosts(t, 1)
	})
}
