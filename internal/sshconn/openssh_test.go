package sshconn_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/smcfleet/smcfleet/internal/remote"
	"github.com/smcfleet/smcfleet/internal/sshconn"
)

const sshdPath = "/usr/sbin/sshd"

// skipOrFail skips without OpenSSH, except in CI, where a missing sshd
// means the job is misconfigured and must not pass silently.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but %s", why)
	}
	t.Skip(why)
}

type openSSH struct {
	addr       string
	hostKey    ssh.PublicKey
	clientKey  string
	workingDir string
}

// startSSHD runs a private sshd on a free loopback port, in its own process
// group so that cleanup also ends its session processes. extra lines are
// added to its sshd_config.
func startSSHD(t *testing.T, extra ...string) *openSSH {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		skipOrFail(t, sshdPath+" is not installed (apt-get install openssh-server openssh-sftp-server)")
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "sshd tests need root")
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeKey := func(name string) ssh.PublicKey {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		block, err := ssh.MarshalPrivateKey(priv, name)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600)
		k, _ := ssh.NewPublicKey(pub)
		return k
	}
	hostKey := writeKey("hostkey")
	clientKey := writeKey("id_ed25519")
	os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientKey), 0o600)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`ListenAddress %s
HostKey %s/hostkey
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
UseDNS no
Subsystem sftp internal-sftp
`, addr, dir, dir, dir) + strings.Join(extra, "\n") + "\n"
	cfgFile := filepath.Join(dir, "sshd_config")
	os.WriteFile(cfgFile, []byte(cfg), 0o600)

	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfgFile)
	var log strings.Builder
	cmd.Stderr = &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		<-exited
		if t.Failed() {
			t.Logf("sshd log:\n%s", log.String())
		}
	})
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("sshd exited: %s", log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	work := t.TempDir()
	return &openSSH{addr: addr, hostKey: hostKey, clientKey: filepath.Join(dir, "id_ed25519"), workingDir: work}
}

func (o *openSSH) config() sshconn.Config {
	host, port, _ := net.SplitHostPort(o.addr)
	var p int
	fmt.Sscan(port, &p)
	return sshconn.Config{
		Name: "openssh", Address: host, Port: p, User: "root",
		IdentityFiles: []string{o.clientKey},
		HostKeys:      []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(o.hostKey)))},
	}
}

func TestOpenSSH(t *testing.T) {
	o := startSSHD(t)
	ctx := context.Background()

	t.Run("host keys", func(t *testing.T) {
		cfg := o.config()
		cfg.HostKeys = nil
		cfg.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
		_, err := sshconn.Dial(ctx, cfg)
		var hke *sshconn.HostKeyError
		if !errors.As(err, &hke) || hke.Kind != sshconn.Unknown || !strings.Contains(err.Error(), ssh.FingerprintSHA256(o.hostKey)) {
			t.Fatalf("Dial with no known key: %v, want Unknown with fingerprint", err)
		}
		cfg.HostKeys = []string{ssh.FingerprintSHA256(o.hostKey)}
		c, err := sshconn.Dial(ctx, cfg)
		if err != nil {
			t.Fatalf("Dial with pinned fingerprint: %v", err)
		}
		c.Close()
	})

	c := dial(t, o.config())
	dir := o.workingDir

	t.Run("exec", func(t *testing.T) {
		res, err := c.Run(ctx, "echo out; echo err >&2; cat; exit 4", strings.NewReader("in"))
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Stdout) != "out\nin" || string(res.Stderr) != "err\n" || res.ExitCode != 4 {
			t.Errorf("Run = %q %q %d", res.Stdout, res.Stderr, res.ExitCode)
		}
	})

	t.Run("write file", func(t *testing.T) {
		p := filepath.Join(dir, "app.conf")
		os.WriteFile(p, []byte("old"), 0o600)
		os.Chown(p, 1234, 1235)
		if err := c.WriteFile(ctx, p, []byte("new\n"), remote.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		checkFile(t, p, "new\n", 0o600)
		fi, err := c.Stat(ctx, p)
		if err != nil || fi.UID != 1234 || fi.GID != 1235 {
			t.Errorf("Stat = %+v, %v; want owner 1234:1235 preserved", fi, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("temp files left: %v", entries)
		}
	})

	t.Run("copy no clobber", func(t *testing.T) {
		src := filepath.Join(dir, "src")
		os.WriteFile(src, []byte("one"), 0o640)
		dst := filepath.Join(dir, "src.bak")
		created, err := c.CopyNoClobber(ctx, src, dst)
		if err != nil || !created {
			t.Fatalf("CopyNoClobber = %v, %v", created, err)
		}
		os.WriteFile(src, []byte("two"), 0o640)
		created, err = c.CopyNoClobber(ctx, src, dst)
		if err != nil || created {
			t.Fatalf("second CopyNoClobber = %v, %v", created, err)
		}
		checkFile(t, dst, "one", 0o640)
	})

	// runAndCancel runs cmd, which must write $$ to pidFile first, cancels
	// it once that happened and returns the remote shell's PID.
	runAndCancel := func(t *testing.T, c *sshconn.Client, cmd, pidFile string) int {
		t.Helper()
		runCtx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := c.Run(runCtx, cmd, nil)
			errc <- err
		}()
		var pid int
		waitFor(t, func() bool {
			data, _ := os.ReadFile(pidFile)
			_, err := fmt.Sscan(string(data), &pid)
			return err == nil
		})
		// However the test ends, leave nothing running.
		t.Cleanup(func() {
			for _, p := range sessionProcs(pid) {
				syscall.Kill(p, syscall.SIGKILL)
			}
		})
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
		return pid
	}

	// OpenSSH refuses "signal" requests for root logins ("session
	// signalling requires privilege separation"); Run must end the remote
	// command's process group itself.
	t.Run("cancel", func(t *testing.T) {
		pidFile := filepath.Join(dir, "pid")
		marker := filepath.Join(dir, "marker")
		pid := runAndCancel(t, c, fmt.Sprintf("echo $$ > %s; sleep 30; touch %s", pidFile, marker), pidFile)
		waitFor(t, func() bool { return len(sessionProcs(pid)) == 0 })
		if _, err := os.Stat(marker); err == nil {
			t.Error("marker exists: remote command was not killed")
		}
	})

	// A job-control shell (or `timeout`, or a daemon) may move children
	// into process groups of their own; the session kill reaches them too.
	t.Run("cancel reaches other process groups", func(t *testing.T) {
		if _, err := exec.LookPath("bash"); err != nil {
			t.Skip("no bash")
		}
		pidFile := filepath.Join(dir, "pid2")
		cmd := fmt.Sprintf(`p=$$; bash -c "set -m; sleep 30 & echo $p > %s; wait"`, pidFile)
		pid := runAndCancel(t, c, cmd, pidFile)
		waitFor(t, func() bool { return len(sessionProcs(pid)) == 0 })
	})

	t.Run("cancel without PID wrapper", func(t *testing.T) {
		cfg := o.config()
		cfg.NoPIDWrapper = true
		plain := dial(t, cfg)
		pidFile := filepath.Join(dir, "pid3")
		pid := runAndCancel(t, plain, fmt.Sprintf("echo $$ > %s; exec sleep 30", pidFile), pidFile)
		if len(sessionProcs(pid)) > 0 {
			t.Logf("known limitation with NoPIDWrapper: sshd did not deliver SIGTERM to pid %d (root login)", pid)
		}
	})

	if got := c.Stats(); got.Connections != 1 {
		t.Errorf("connections = %d, want 1", got.Connections)
	}
}

// With MaxSessions 1 the kill session is refused on the command's
// connection (sshd frees the slot only when the command ends); Run must
// kill from a second connection.
func TestOpenSSHCancelAtSessionLimit(t *testing.T) {
	o := startSSHD(t, "MaxSessions 1")
	c := dial(t, o.config())
	pidFile := filepath.Join(o.workingDir, "pid")
	runCtx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(runCtx, fmt.Sprintf("echo $$ > %s; sleep 30", pidFile), nil)
		errc <- err
	}()
	var pid int
	waitFor(t, func() bool {
		data, _ := os.ReadFile(pidFile)
		_, err := fmt.Sscan(string(data), &pid)
		return err == nil
	})
	t.Cleanup(func() {
		for _, p := range sessionProcs(pid) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	})
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", err)
	}
	waitFor(t, func() bool { return len(sessionProcs(pid)) == 0 })
	if got := c.Stats(); got.Sessions != 2 || got.Connections != 2 {
		t.Errorf("stats = %+v, want 2 sessions on 2 connections (the command, then the kill)", got)
	}
}

// sessionProcs lists the live (not zombie) processes whose process group
// or session is sid, from /proc.
func sessionProcs(sid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp session ...; comm may hold spaces.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 4 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if f[2] == strconv.Itoa(sid) || f[3] == strconv.Itoa(sid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
