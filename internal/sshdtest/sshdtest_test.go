package sshdtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smcfleet/smcfleet/internal/sshconn"
	"github.com/smcfleet/smcfleet/internal/sshdtest"
	"github.com/smcfleet/smcfleet/inventory"
)

const sesName = "email-smtp.us-east-1.amazonaws.com"

func dial(t *testing.T, f *sshdtest.Fleet, h *sshdtest.Host) *sshconn.Client {
	t.Helper()
	c, err := sshconn.Dial(context.Background(), sshconn.Config{
		Name: h.Name, Address: h.Addr, Port: h.Port, User: "root",
		IdentityFiles:  []string{f.ClientKeyFile},
		HostKeys:       []string{h.HostKeyLine},
		ConnectTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func run(t *testing.T, c *sshconn.Client, cmd string) string {
	t.Helper()
	res, err := c.Run(context.Background(), cmd, nil)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("%s: exit %d, stderr %q", cmd, res.ExitCode, res.Stderr)
	}
	return string(res.Stdout)
}

func TestOpenSSHFleet(t *testing.T) {
	start := time.Now()
	f := sshdtest.Start(t, sshdtest.Options{
		Hosts:        10,
		HostsEntries: map[string]string{sesName: "127.0.0.1"},
		Seed: func(name, dir string) error {
			return os.WriteFile(filepath.Join(dir, "name"), []byte(name+"\n"), 0o644)
		},
	})
	t.Logf("10 hosts listening after %v", time.Since(start))
	if len(f.Hosts) != 10 {
		t.Fatalf("%d hosts, want 10", len(f.Hosts))
	}

	t.Run("hosts", func(t *testing.T) {
		for _, h := range f.Hosts {
			t.Run(h.Name, func(t *testing.T) {
				t.Parallel()
				checkHost(t, f, h)
			})
		}
	})

	t.Run("inventory", func(t *testing.T) {
		src := f.InventoryHCL()
		inv, diags := inventory.Parse([]byte(src), filepath.Join(f.Dir, "inventory.hcl"), inventory.LoadOptions{
			Getenv: func(string) (string, bool) { return "", false },
		})
		if diags.HasErrors() {
			t.Fatalf("InventoryHCL does not load: %s\n%s", diags.Error(), src)
		}
		if len(inv.Hosts) != len(f.Hosts) {
			t.Fatalf("%d inventory hosts, want %d", len(inv.Hosts), len(f.Hosts))
		}
		for i, ih := range inv.Hosts {
			h := f.Hosts[i]
			root := ih.Vars["lancope_root"]
			if ih.Name != h.Name || ih.Address != h.Addr || ih.Port != h.Port || ih.User != "root" ||
				ih.SSHAgent || ih.KnownHosts != "" || len(ih.HostKeys) != 1 || ih.HostKeys[0] != h.HostKeyLine ||
				len(ih.IdentityFiles) != 1 || ih.IdentityFiles[0] != f.ClientKeyFile ||
				root.IsNull() || root.AsString() != "/lancope" {
				t.Errorf("inventory host %d = %+v, want %s at %s:%d with its pinned key", i, ih, h.Name, h.Addr, h.Port)
			}
		}
	})

}

// TestOpenSSHKnownHosts checks Fleet.KnownHostsFile with OpenSSH's own
// client, then with sshconn.
func TestOpenSSHKnownHosts(t *testing.T) {
	f := sshdtest.Start(t, sshdtest.Options{Hosts: 2})
	h := f.Hosts[1]
	ssh, err := exec.LookPath("ssh")
	if err != nil {
		t.Log("no OpenSSH client; checking with sshconn only")
	} else {
		out, err := exec.Command(ssh, "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
			"-o", "UserKnownHostsFile="+f.KnownHostsFile, "-o", "GlobalKnownHostsFile=/dev/null",
			"-i", f.ClientKeyFile, "-p", fmt.Sprint(h.Port), "root@"+h.Addr, "echo ok").CombinedOutput()
		if err != nil || string(out) != "ok\n" {
			t.Fatalf("ssh with StrictHostKeyChecking=yes and KnownHostsFile: %v: %s", err, out)
		}
	}
	c, err := sshconn.Dial(context.Background(), sshconn.Config{
		Address: h.Addr, Port: h.Port, User: "root",
		IdentityFiles:  []string{f.ClientKeyFile},
		KnownHostsFile: f.KnownHostsFile,
	})
	var hke *sshconn.HostKeyError
	if errors.As(err, &hke) && hke.Kind == sshconn.Unknown {
		// OpenSSH accepted the same file above.
		t.Fatalf("sshconn does not find a port-22 host in known_hosts: %v\n"+
			"(knownhosts.Normalize drops :22, and the knownhosts callback needs host:port)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// checkHost checks one host sees only its own world.
func checkHost(t *testing.T, f *sshdtest.Fleet, h *sshdtest.Host) {
	c := dial(t, f, h)
	if got := run(t, c, "cat /lancope/name; ls /lancope"); got != h.Name+"\nname\n" {
		t.Errorf("/lancope = %q, want only this host's seed", got)
	}
	if got := run(t, c, "getent hosts "+sesName); !strings.HasPrefix(got, "127.0.0.1 ") {
		t.Errorf("getent hosts %s = %q, want the mapped loopback address", sesName, got)
	}
	if got := run(t, c, "getent hosts "+h.Name); !strings.HasPrefix(got, h.Addr+" ") {
		t.Errorf("getent hosts %s = %q, want %s", h.Name, got, h.Addr)
	}
	if got := run(t, c, "wc -c < /root/.bashrc"); strings.TrimSpace(got) != "0" {
		t.Errorf("/root/.bashrc has %s bytes, want an empty file", got)
	}
	if got := run(t, c, "command -v docker"); !strings.HasSuffix(got, "/"+h.Name+"/bin/docker\n") {
		t.Errorf("docker = %q, want the host's fake", got)
	}

	// The fake docker.
	const inspect = "docker inspect -f '{{.State.Running}} {{.State.StartedAt}} {{.RestartCount}}' sw-response-mgmt"
	before := run(t, c, inspect)
	if !regexp.MustCompile(`^true \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z 0\n$`).MatchString(before) {
		t.Errorf("%s = %q", inspect, before)
	}
	if got := run(t, c, "docker restart sw-response-mgmt"); got != "sw-response-mgmt\n" {
		t.Errorf("docker restart = %q", got)
	}
	if after := run(t, c, inspect); after == before || !strings.HasPrefix(after, "true ") {
		t.Errorf("after restart %q, was %q: want a new StartedAt", after, before)
	}
	log, _ := os.ReadFile(h.DockerLog)
	if !regexp.MustCompile(`^restart sw-response-mgmt \d+\n$`).Match(log) {
		t.Errorf("DockerLog = %q, want one restart", log)
	}
	if got := run(t, c, "docker ps --format '{{.Names}}' | sort"); got != "svc-cm\nsvc-db\nsvc-ui\nsw-response-mgmt\n" {
		t.Errorf("docker ps names = %q", got)
	}
	if got := run(t, c, "docker ps"); !strings.HasPrefix(got, "CONTAINER ID") || !strings.Contains(got, " sw-response-mgmt\n") {
		t.Errorf("docker ps = %q", got)
	}
	res, err := c.Run(context.Background(), "docker restart sw-respons-mgmt", nil)
	if err != nil || res.ExitCode != 1 || !strings.Contains(string(res.Stderr), "No such container: sw-respons-mgmt") {
		t.Errorf("docker restart of a typo = %d %q %v, want exit 1 and No such container", res.ExitCode, res.Stderr, err)
	}
	if log2, _ := os.ReadFile(h.DockerLog); string(log2) != string(log) {
		t.Errorf("a failed restart was logged: %q", log2)
	}

	// SFTP through internal-sftp sees the same /lancope.
	fi, err := c.Stat(context.Background(), "/lancope/name")
	if err != nil || !fi.Exists || fi.Size != int64(len(h.Name)+1) {
		t.Errorf("Stat /lancope/name = %+v, %v", fi, err)
	}
}

// sleepers lists host PIDs of processes running `sleep <arg>`.
func sleepers(arg string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && string(cmdline) == "sleep\x00"+arg+"\x00" {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// sshdsOf lists host PIDs of sshd processes started from dir.
func sshdsOf(dir string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// startSleeper starts a long remote command that only Stop can end.
func startSleeper(t *testing.T, c *sshconn.Client, arg string) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), "exec sleep "+arg, nil)
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(sleepers(arg)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sleep %s never started", arg)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return done
}

func TestOpenSSHStopEndsSessions(t *testing.T) {
	f := sshdtest.Start(t, sshdtest.Options{Hosts: 2})
	h, other := f.Hosts[0], f.Hosts[1]
	c := dial(t, f, h)
	arg := fmt.Sprintf("%d.%d", 900+os.Getpid()%100, time.Now().UnixNano()%1000)
	done := startSleeper(t, c, arg)

	h.Stop()
	if pids := sleepers(arg); len(pids) > 0 {
		t.Errorf("after Stop, the session's command still runs: pids %v", pids)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("Run returned no error although its host stopped")
		}
	case <-time.After(5 * time.Second):
		t.Error("Run did not return after its host stopped")
	}
	if _, err := sshconn.Dial(context.Background(), sshconn.Config{
		Address: h.Addr, Port: h.Port, User: "root",
		IdentityFiles: []string{f.ClientKeyFile}, HostKeys: []string{h.HostKeyLine},
		ConnectTimeout: time.Second,
	}); err == nil {
		t.Error("Dial succeeded after Stop")
	}
	h.Stop() // twice is harmless

	// The other host is unaffected.
	if got := run(t, dial(t, f, other), "echo ok"); got != "ok\n" {
		t.Errorf("other host: %q", got)
	}
}

func TestOpenSSHCleanup(t *testing.T) {
	_, err := os.Stat("/lancope")
	lancopeBefore := err == nil
	var dir, arg string
	t.Run("fleet", func(t *testing.T) {
		f := sshdtest.Start(t, sshdtest.Options{Hosts: 3})
		dir = f.Dir
		arg = fmt.Sprintf("%d.%d", 800+os.Getpid()%100, time.Now().UnixNano()%1000)
		// Leave a session and its command open: cleanup must end them.
		startSleeper(t, dial(t, f, f.Hosts[1]), arg)
		if len(sshdsOf(dir)) < 3 {
			t.Fatalf("sshd processes of %s: %v, want at least 3", dir, sshdsOf(dir))
		}
	})
	if t.Failed() || dir == "" {
		return
	}
	if pids := sshdsOf(dir); len(pids) > 0 {
		t.Errorf("sshd processes left after cleanup: %v", pids)
	}
	if pids := sleepers(arg); len(pids) > 0 {
		t.Errorf("remote command left after cleanup: %v", pids)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("fleet dir %s left after cleanup: %v", dir, err)
	}
	_, err = os.Stat("/lancope")
	switch lancopeAfter := err == nil; {
	case lancopeBefore && !lancopeAfter:
		t.Error("/lancope existed before the fleet and is gone after it")
	case !lancopeBefore && lancopeAfter && !sshdtest.OtherFleetsAlive():
		t.Error("/lancope was created for the fleet and left behind")
	case !lancopeBefore && lancopeAfter:
		t.Log("/lancope stays: a fleet in another test process still uses it")
	}
	if _, err := os.Stat(sshdtest.LancopeMarker); err == nil && !sshdtest.OtherFleetsAlive() {
		t.Errorf("%s left behind", sshdtest.LancopeMarker)
	}
}
