package sshconn_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/smcfleet/smcfleet/internal/remote"
	"github.com/smcfleet/smcfleet/internal/sshconn"
	"github.com/smcfleet/smcfleet/internal/sshtest"
)

// conn is a copy of runner.Conn: the runner package may be mid-edit, so
// the method set is checked against this copy instead of importing it.
type conn interface {
	Run(ctx context.Context, cmd string, stdin io.Reader) (remote.CmdResult, error)
	Stat(ctx context.Context, path string) (remote.FileInfo, error)
	ReadFile(ctx context.Context, path string, limit int64) ([]byte, error)
	WriteFile(ctx context.Context, path string, data []byte, opt remote.WriteOptions) error
	CopyNoClobber(ctx context.Context, src, dst string) (created bool, err error)
	Glob(ctx context.Context, pattern string) ([]string, error)
	Open(ctx context.Context, path string) (io.ReadCloser, error)
	Close() error
}

var _ conn = (*sshconn.Client)(nil)

// config returns a Config for s authenticating with its client key and
// the host key pinned.
func config(s *sshtest.Server) sshconn.Config {
	return sshconn.Config{
		Name:          "test",
		Address:       s.Host(),
		Port:          s.Port(),
		User:          "admin",
		IdentityFiles: []string{s.ClientKeyFile()},
		HostKeys:      []string{s.AuthorizedKeyLine()},
	}
}

func dial(t *testing.T, cfg sshconn.Config) *sshconn.Client {
	t.Helper()
	c, err := sshconn.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRun(t *testing.T) {
	s := sshtest.NewServer(t)
	c := dial(t, config(s))
	ctx := context.Background()

	tests := []struct {
		cmd, stdin     string
		stdout, stderr string
		code           int
	}{
		{cmd: "echo out; echo err >&2", stdout: "out\n", stderr: "err\n"},
		{cmd: "exit 3", code: 3},
		{cmd: "cat; echo done", stdin: "hello\n", stdout: "hello\ndone\n"},
		{cmd: "kill -TERM $$", code: -1},
		// The PID wrapper must leave the command's own output alone: a
		// stderr that starts with text, a marker-like line of its own,
		// comments, heredocs and line numbers.
		{cmd: "printf 'x: no newline' >&2", stderr: "x: no newline"},
		{cmd: `printf '\036smcfleet-pid=123\nerr\n' >&2`, stderr: "\x1esmcfleet-pid=123\nerr\n"},
		{cmd: "# a comment\ncat <<EOF\nhere\nEOF", stdout: "here\n"},
		{cmd: "", code: 0},
	}
	for _, tt := range tests {
		var stdin io.Reader
		if tt.stdin != "" {
			stdin = strings.NewReader(tt.stdin)
		}
		res, err := c.Run(ctx, tt.cmd, stdin)
		if err != nil {
			t.Fatalf("Run(%q): %v", tt.cmd, err)
		}
		if string(res.Stdout) != tt.stdout || string(res.Stderr) != tt.stderr || res.ExitCode != tt.code {
			t.Errorf("Run(%q) = stdout %q stderr %q code %d, want %q %q %d",
				tt.cmd, res.Stdout, res.Stderr, res.ExitCode, tt.stdout, tt.stderr, tt.code)
		}
		if tt.code == -1 && res.Signal != "TERM" {
			t.Errorf("Run(%q).Signal = %q, want TERM", tt.cmd, res.Signal)
		}
	}
}

func TestRunCancelKillsRemoteCommand(t *testing.T) {
	dir := t.TempDir()
	s := sshtest.NewServer(t, sshtest.WithWorkDir(dir))
	c := dial(t, config(s))

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, "echo $$ > started; sleep 30; touch marker", nil)
		errc <- err
	}()
	var pgid int
	waitFor(t, func() bool {
		data, err := os.ReadFile(filepath.Join(dir, "started"))
		_, scanErr := fmt.Sscan(string(data), &pgid)
		return err == nil && scanErr == nil
	})
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: err = %v, want context.Canceled", err)
	}
	if sigs := s.Stats().Signals; len(sigs) != 1 || sigs[0] != "TERM" {
		t.Errorf("server saw signals %v, want [TERM]", sigs)
	}
	// The server runs each command in its own process group; once the
	// group is gone, marker can never be created.
	waitFor(t, func() bool { return syscall.Kill(-pgid, 0) == syscall.ESRCH })
	if _, err := os.Stat(filepath.Join(dir, "marker")); err == nil {
		t.Error("marker exists: remote command was not killed")
	}
}

func TestRunWrapsCommand(t *testing.T) {
	s := sshtest.NewServer(t)
	cfg := config(s)
	c := dial(t, cfg)
	cfg.NoPIDWrapper = true
	plain := dial(t, cfg)
	const cmd = "echo hi >&2"
	for _, c := range []*sshconn.Client{c, plain} {
		res, err := c.Run(context.Background(), cmd, nil)
		if err != nil || string(res.Stderr) != "hi\n" {
			t.Fatalf("Run = %q, %v", res.Stderr, err)
		}
	}
	// The wrapper shares the command's first line, so shell messages keep
	// their line numbers ("sh: 1: ...: not found", not "sh: 2: ...").
	res, err := c.Run(context.Background(), "smcfleet-no-such-command", nil)
	if err != nil || res.ExitCode != 127 || strings.Contains(string(res.Stderr), "2") {
		t.Errorf("Run(unknown command) = %q, %d, %v; want exit 127 and no line 2", res.Stderr, res.ExitCode, err)
	}
	execs := s.Stats().Execs
	if len(execs) < 2 {
		t.Fatalf("Execs = %q", execs)
	}
	execs = execs[:2]
	if execs[0] != sshconn.WrapCommand(cmd) || execs[1] != cmd {
		t.Fatalf("Execs = %q, want the wrapped then the plain command", s.Stats().Execs)
	}
	for _, e := range execs {
		if got := sshconn.UnwrapCommand(e); got != cmd {
			t.Errorf("UnwrapCommand(%q) = %q, want %q", e, got, cmd)
		}
	}
}

// TestRunCancelWithoutSignals plays an sshd that ignores "signal" requests
// and leaves the command running when the session closes, as OpenSSH does
// for root logins: only the process group kill can stop the command.
func TestRunCancelWithoutSignals(t *testing.T) {
	dir := t.TempDir()
	s := sshtest.NewServer(t, sshtest.WithExecHandler(func(_ context.Context, cmd string, _ io.Reader, stdout, stderr io.Writer) int {
		sh := exec.Command("/bin/sh", "-c", cmd)
		sh.Dir = dir
		sh.Stdout, sh.Stderr = stdout, stderr
		sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := sh.Run(); err != nil {
			return 1
		}
		return 0
	}))
	c := dial(t, config(s))

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, "echo $$ > started; sleep 30; touch marker", nil)
		errc <- err
	}()
	var pgid int
	waitFor(t, func() bool {
		data, err := os.ReadFile(filepath.Join(dir, "started"))
		_, scanErr := fmt.Sscan(string(data), &pgid)
		return err == nil && scanErr == nil
	})
	t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGKILL) })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: err = %v, want context.Canceled", err)
	}
	waitFor(t, func() bool { return syscall.Kill(-pgid, 0) == syscall.ESRCH })
	if _, err := os.Stat(filepath.Join(dir, "marker")); err == nil {
		t.Error("marker exists: remote command was not killed")
	}
	execs := s.Stats().Execs
	if len(execs) != 2 || !strings.Contains(execs[1], fmt.Sprintf("p=%d\n", pgid)) {
		t.Errorf("Execs = %q, want the command then a kill of process group %d", execs, pgid)
	}
}

func TestCommandTimeout(t *testing.T) {
	s := sshtest.NewServer(t)
	cfg := config(s)
	cfg.CommandTimeout = 100 * time.Millisecond
	c := dial(t, cfg)
	_, err := c.Run(context.Background(), "sleep 30", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition never became true")
}

func TestHostKeys(t *testing.T) {
	s := sshtest.NewServer(t)
	other := sshtest.NewServer(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fp := ssh.FingerprintSHA256(s.HostKey())
	otherFP := ssh.FingerprintSHA256(other.HostKey())
	hashed := knownhosts.Line([]string{knownhosts.HashHostname(knownhosts.Normalize(s.Addr()))}, s.HostKey())

	tests := []struct {
		name      string
		edit      func(*sshconn.Config)
		wantKind  sshconn.HostKeyKind // 0: success
		wantInMsg []string
	}{
		{name: "pinned key", edit: func(c *sshconn.Config) {}},
		{name: "pinned fingerprint", edit: func(c *sshconn.Config) { c.HostKeys = []string{fp} }},
		{name: "known_hosts plain", edit: func(c *sshconn.Config) {
			c.HostKeys = nil
			c.KnownHostsFile = write("plain", "# comment\n"+other.KnownHostsLine()+"\n"+s.KnownHostsLine()+"\n")
		}},
		{name: "known_hosts hashed", edit: func(c *sshconn.Config) {
			c.HostKeys = nil
			c.KnownHostsFile = write("hashed", hashed+"\n")
		}},
		{name: "unknown", edit: func(c *sshconn.Config) {
			c.HostKeys = nil
			c.KnownHostsFile = filepath.Join(dir, "missing")
		}, wantKind: sshconn.Unknown, wantInMsg: []string{fp, "--accept-new", "host_keys"}},
		{name: "changed in known_hosts", edit: func(c *sshconn.Config) {
			c.HostKeys = nil
			c.KnownHostsFile = write("changed", strings.Replace(other.KnownHostsLine(), knownhosts.Normalize(other.Addr()), knownhosts.Normalize(s.Addr()), 1)+"\n")
		}, wantKind: sshconn.Changed, wantInMsg: []string{fp, otherFP, "changed:1", "CHANGED"}},
		{name: "changed in known_hosts despite pin", edit: func(c *sshconn.Config) {
			c.KnownHostsFile = filepath.Join(dir, "changed")
		}, wantKind: sshconn.Changed, wantInMsg: []string{fp, otherFP}},
		{name: "pin mismatch", edit: func(c *sshconn.Config) {
			c.HostKeys = []string{otherFP}
		}, wantKind: sshconn.Changed, wantInMsg: []string{fp, otherFP, "host_keys"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(s)
			tt.edit(&cfg)
			c, err := sshconn.Dial(context.Background(), cfg)
			if tt.wantKind == 0 {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded, want host key error")
			}
			var hke *sshconn.HostKeyError
			if !errors.As(err, &hke) || hke.Kind != tt.wantKind {
				t.Fatalf("Dial error = %v, want HostKeyError kind %v", err, tt.wantKind)
			}
			for _, want := range tt.wantInMsg {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	// The server has an ECDSA key, which x/crypto prefers over ed25519;
	// known_hosts holds only ed25519, so without restricting the
	// algorithms the server would present ECDSA and look changed.
	s := sshtest.NewServer(t, sshtest.WithHostKeyTypes("ed25519", "ecdsa", "rsa"))
	for i, key := range s.HostKeys() {
		kh := filepath.Join(t.TempDir(), "known_hosts")
		line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, key)
		os.WriteFile(kh, []byte(line+"\n"), 0o600)
		cfg := config(s)
		cfg.HostKeys = nil
		cfg.KnownHostsFile = kh
		c, err := sshconn.Dial(context.Background(), cfg)
		if err != nil {
			t.Fatalf("key %d (%s): Dial: %v", i, key.Type(), err)
		}
		c.Close()
	}
}

func TestAcceptNewParallel(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "sub", "known_hosts")
	var servers []*sshtest.Server
	for range 20 {
		servers = append(servers, sshtest.NewServer(t))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(servers))
	for _, s := range servers {
		for range 2 { // twice per server: the second must not duplicate
			wg.Add(1)
			go func() {
				defer wg.Done()
				cfg := config(s)
				cfg.HostKeys = nil
				cfg.KnownHostsFile = kh
				cfg.AcceptNew = true
				c, err := sshconn.Dial(context.Background(), cfg)
				if err != nil {
					errs <- err
					return
				}
				c.Close()
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	content, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(kh); fi.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode = %v, want 0600", fi.Mode().Perm())
	}
	for _, s := range servers {
		if n := strings.Count(string(content), s.KnownHostsLine()+"\n"); n != 1 {
			t.Errorf("%s recorded %d times, want 1", s.Addr(), n)
		}
	}
	if _, err := knownhosts.New(kh); err != nil {
		t.Errorf("known_hosts does not parse: %v", err)
	}
	if n := strings.Count(string(content), "\n"); n != len(servers) {
		t.Errorf("known_hosts has %d lines, want %d", n, len(servers))
	}

	// Known now: dial without AcceptNew works, and a changed key is
	// refused and never recorded.
	s := servers[0]
	cfg := config(s)
	cfg.HostKeys = nil
	cfg.KnownHostsFile = kh
	dial(t, cfg).Close()
	s.ChangeHostKey(true)
	cfg.AcceptNew = true
	_, err = sshconn.Dial(context.Background(), cfg)
	var hke *sshconn.HostKeyError
	if !errors.As(err, &hke) || hke.Kind != sshconn.Changed {
		t.Fatalf("Dial with changed key: %v, want Changed", err)
	}
	after, _ := os.ReadFile(kh)
	if !bytes.Equal(after, content) {
		t.Errorf("known_hosts changed after refusing a changed key:\n%s", after)
	}
}

func TestJumpHosts(t *testing.T) {
	jump1 := sshtest.NewServer(t)
	jump2 := sshtest.NewServer(t)
	target := sshtest.NewServer(t)
	cfg := config(target)
	cfg.Jump = []sshconn.Config{config(jump1), config(jump2)}
	c := dial(t, cfg)
	res, err := c.Run(context.Background(), "echo hi", nil)
	if err != nil || string(res.Stdout) != "hi\n" {
		t.Fatalf("Run via jumps = %q, %v", res.Stdout, err)
	}
	if got := jump1.Stats().Forwards; got != 1 {
		t.Errorf("jump1 forwards = %d, want 1", got)
	}
	if got := jump2.Stats().Forwards; got != 1 {
		t.Errorf("jump2 forwards = %d, want 1", got)
	}
	if got := target.Stats().Execs; len(got) != 1 {
		t.Errorf("target execs = %v", got)
	}
	if got := c.Stats().Connections; got != 3 {
		t.Errorf("connections = %d, want 3", got)
	}

	// A jump host's host key is verified with its own settings.
	cfg.Jump[1].HostKeys = []string{ssh.FingerprintSHA256(target.HostKey())}
	_, err = sshconn.Dial(context.Background(), cfg)
	var hke *sshconn.HostKeyError
	if !errors.As(err, &hke) || !strings.Contains(err.Error(), "jump host") {
		t.Errorf("Dial with bad jump pin: %v, want HostKeyError via jump host", err)
	}
}

func TestAuth(t *testing.T) {
	s := sshtest.NewServer(t, sshtest.WithPassword("s3cret"))
	encFile, pass := s.EncryptedClientKey()

	t.Run("encrypted key", func(t *testing.T) {
		cfg := config(s)
		cfg.IdentityFiles = []string{encFile}
		var asked []string
		cfg.PassphraseFunc = func(f string) ([]byte, error) { asked = append(asked, f); return pass, nil }
		dial(t, cfg)
		if len(asked) != 1 || asked[0] != encFile {
			t.Errorf("passphrase asked for %v, want [%s]", asked, encFile)
		}
	})
	t.Run("encrypted key without passphrase source", func(t *testing.T) {
		cfg := config(s)
		cfg.IdentityFiles = []string{encFile}
		_, err := sshconn.Dial(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "encrypted") {
			t.Errorf("err = %v, want encrypted-key error", err)
		}
	})
	t.Run("passphrase from env", func(t *testing.T) {
		t.Setenv("SMCFLEET_TEST_PASSPHRASE", string(pass))
		cfg := config(s)
		cfg.IdentityFiles = []string{encFile}
		cfg.PassphraseFunc = sshconn.PassphraseFromEnvOrTerminal("SMCFLEET_TEST_PASSPHRASE")
		dial(t, cfg)
	})
	t.Run("password only when configured", func(t *testing.T) {
		before := len(s.Stats().AuthMethods)
		dial(t, config(s))
		for _, m := range s.Stats().AuthMethods[before:] {
			if m == "password" {
				t.Errorf("password tried without being configured")
			}
		}
		cfg := config(s)
		cfg.IdentityFiles = nil
		if _, err := sshconn.Dial(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "no authentication method") {
			t.Errorf("Dial with no method: %v", err)
		}
		cfg.Password = "s3cret"
		dial(t, cfg)
	})
	t.Run("refused", func(t *testing.T) {
		s.AuthRefuse(true)
		defer s.AuthRefuse(false)
		_, err := sshconn.Dial(context.Background(), config(s))
		if err == nil || !strings.Contains(err.Error(), "authentication as \"admin\" failed") {
			t.Errorf("err = %v, want authentication failure", err)
		}
	})
}

func TestOneConnection(t *testing.T) {
	root := t.TempDir()
	s := sshtest.NewServer(t, sshtest.WithRoot(root))
	c := dial(t, config(s))
	ctx := context.Background()
	for i := range 10 {
		if _, err := c.Run(ctx, "true", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteFile(ctx, fmt.Sprintf("/f%d", i), []byte("x"), remote.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Stat(ctx, fmt.Sprintf("/f%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Stats(); got.Accepted != 1 || got.Handshakes != 1 || got.SFTPSessions != 1 {
		t.Errorf("server stats = %+v, want 1 connection and 1 SFTP session", got)
	}
	if got := c.Stats(); got.Connections != 1 || got.Sessions != 11 {
		t.Errorf("client stats = %+v, want 1 connection, 11 sessions", got)
	}
}

func TestFiles(t *testing.T) {
	root := t.TempDir()
	s := sshtest.NewServer(t, sshtest.WithRoot(root))
	c := dial(t, config(s))
	ctx := context.Background()
	os.MkdirAll(filepath.Join(root, "lancope/etc"), 0o755)

	fi, err := c.Stat(ctx, "/lancope/etc/missing")
	if err != nil || fi.Exists {
		t.Fatalf("Stat(missing) = %+v, %v; want Exists=false, nil", fi, err)
	}

	p := "/lancope/etc/app.conf"
	if err := c.WriteFile(ctx, p, []byte("v1\n"), remote.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, filepath.Join(root, p), "v1\n", 0o644)

	os.Chmod(filepath.Join(root, p), 0o600)
	if err := c.WriteFile(ctx, p, []byte("v2\n"), remote.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, filepath.Join(root, p), "v2\n", 0o600)

	mode := fs.FileMode(0o640)
	uid, gid := os.Getuid(), os.Getgid()
	if err := c.WriteFile(ctx, p, []byte("v3\n"), remote.WriteOptions{Mode: &mode, UID: &uid, GID: &gid}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, filepath.Join(root, p), "v3\n", 0o640)

	fi, err = c.Stat(ctx, p)
	if err != nil || !fi.Exists || fi.Size != 3 || fi.Mode != 0o640 || fi.UID != uid || fi.GID != gid || fi.IsDir {
		t.Errorf("Stat = %+v, %v", fi, err)
	}
	data, err := c.ReadFile(ctx, p, 3)
	if err != nil || string(data) != "v3\n" {
		t.Errorf("ReadFile = %q, %v", data, err)
	}
	if _, err := c.ReadFile(ctx, p, 2); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("ReadFile over limit: %v", err)
	}
	rc, err := c.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	data, err = io.ReadAll(rc)
	rc.Close()
	if err != nil || string(data) != "v3\n" {
		t.Errorf("Open+ReadAll = %q, %v", data, err)
	}

	os.WriteFile(filepath.Join(root, "lancope/etc/b.conf"), nil, 0o644)
	got, err := c.Glob(ctx, "/lancope/etc/*.conf")
	if err != nil || strings.Join(got, " ") != "/lancope/etc/app.conf /lancope/etc/b.conf" {
		t.Errorf("Glob = %v, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "lancope/etc"))
	if len(entries) != 2 {
		t.Errorf("temp files left behind: %v", entries)
	}

	// Traversal stays in the jail.
	if err := c.WriteFile(ctx, "/../../escape", []byte("x"), remote.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "escape")); err != nil {
		t.Errorf("/../../escape not mapped into the root: %v", err)
	}
}

func checkFile(t *testing.T, p, content string, mode fs.FileMode) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if string(data) != content || fi.Mode().Perm() != mode {
		t.Errorf("%s = %q mode %v, want %q mode %v", p, data, fi.Mode().Perm(), content, mode)
	}
}

func TestWriteFileWithoutPosixRename(t *testing.T) {
	root := t.TempDir()
	s := sshtest.NewServer(t, sshtest.WithRoot(root), sshtest.WithoutSFTP("posix-rename"))
	c := dial(t, config(s))
	os.WriteFile(filepath.Join(root, "f"), []byte("old"), 0o644)
	err := c.WriteFile(context.Background(), "/f", []byte("new"), remote.WriteOptions{})
	if err == nil || !strings.Contains(err.Error(), "atomically") {
		t.Fatalf("err = %v, want atomic-rename error", err)
	}
	checkFile(t, filepath.Join(root, "f"), "old", 0o644)
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Errorf("temp file left behind: %v", entries)
	}
}

func TestWriteFileDroppedConnection(t *testing.T) {
	root := t.TempDir()
	s := sshtest.NewServer(t, sshtest.WithRoot(root))
	c := dial(t, config(s))
	ctx := context.Background()
	original := make([]byte, 1<<20)
	rand.Read(original)
	os.WriteFile(filepath.Join(root, "big"), original, 0o644)
	if _, err := c.Stat(ctx, "/big"); err != nil { // SFTP up before arming
		t.Fatal(err)
	}

	s.DropAfterBytes(1 << 20)
	update := make([]byte, 4<<20)
	rand.Read(update)
	if err := c.WriteFile(ctx, "/big", update, remote.WriteOptions{}); err == nil {
		t.Fatal("WriteFile succeeded over a dropped connection")
	}
	got, _ := os.ReadFile(filepath.Join(root, "big"))
	if !bytes.Equal(got, original) {
		t.Fatal("original file changed after an interrupted write")
	}

	s.DropAfterBytes(0)
	c2 := dial(t, config(s))
	if err := c2.WriteFile(ctx, "/big", update, remote.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(filepath.Join(root, "big"))
	if !bytes.Equal(got, update) {
		t.Fatal("content differs after a full write")
	}
}

func TestCopyNoClobber(t *testing.T) {
	for _, disable := range []string{"", "hardlink"} {
		t.Run("disable="+disable, func(t *testing.T) {
			root := t.TempDir()
			s := sshtest.NewServer(t, sshtest.WithRoot(root), sshtest.WithoutSFTP(disable))
			c := dial(t, config(s))
			ctx := context.Background()
			os.WriteFile(filepath.Join(root, "a"), []byte("first"), 0o640)
			created, err := c.CopyNoClobber(ctx, "/a", "/a.bak")
			if err != nil || !created {
				t.Fatalf("CopyNoClobber = %v, %v; want true, nil", created, err)
			}
			checkFile(t, filepath.Join(root, "a.bak"), "first", 0o640)

			os.WriteFile(filepath.Join(root, "b"), []byte("second"), 0o644)
			created, err = c.CopyNoClobber(ctx, "/b", "/a.bak")
			if err != nil || created {
				t.Fatalf("second CopyNoClobber = %v, %v; want false, nil", created, err)
			}
			checkFile(t, filepath.Join(root, "a.bak"), "first", 0o640)
			if entries, _ := os.ReadDir(root); len(entries) != 3 {
				t.Errorf("files = %v, want a, a.bak, b", entries)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	t.Run("refuse", func(t *testing.T) {
		s := sshtest.NewServer(t)
		s.Refuse(true)
		_, err := sshconn.Dial(context.Background(), config(s))
		if err == nil || !strings.Contains(err.Error(), "closed the connection") {
			t.Errorf("err = %v, want closed-during-handshake error", err)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		s := sshtest.NewServer(t)
		cfg := config(s)
		s.Close()
		_, err := sshconn.Dial(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("err = %v, want connection refused", err)
		}
	})
	t.Run("delay beyond connect timeout", func(t *testing.T) {
		s := sshtest.NewServer(t)
		s.Delay(time.Minute)
		cfg := config(s)
		cfg.ConnectTimeout = 50 * time.Millisecond
		_, err := sshconn.Dial(context.Background(), cfg)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("err = %v, want timeout", err)
		}
	})
	t.Run("delay and cancelled stat", func(t *testing.T) {
		s := sshtest.NewServer(t, sshtest.WithRoot(t.TempDir()))
		c := dial(t, config(s))
		s.Delay(time.Minute) // stalls the SFTP subsystem request
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := c.Stat(ctx, "/x"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Stat err = %v, want DeadlineExceeded", err)
		}
		s.Delay(0)
		if fi, err := c.Stat(context.Background(), "/x"); err != nil || fi.Exists {
			t.Errorf("Stat after delay = %+v, %v", fi, err)
		}
	})
}

func mkfifo(p string) error { return syscall.Mkfifo(p, 0o600) }

func TestCancelStalledTransfer(t *testing.T) {
	root := t.TempDir()
	fifo := filepath.Join(root, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Skip("mkfifo:", err)
	}
	s := sshtest.NewServer(t, sshtest.WithRoot(root))
	c := dial(t, config(s))
	// Keep a writer open so the server's read of the FIFO blocks instead
	// of seeing EOF.
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			t.Cleanup(func() { w.Close() })
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := c.Open(ctx, "/fifo")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(rc)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the read reach the server
	cancel()
	if err := <-errc; err == nil {
		t.Error("read of a stalled file returned no error after cancel")
	}
	rc.Close()
	// SFTP is reopened lazily on the same connection.
	os.WriteFile(filepath.Join(root, "ok"), []byte("ok"), 0o644)
	if data, err := c.ReadFile(context.Background(), "/ok", 10); err != nil || string(data) != "ok" {
		t.Errorf("ReadFile after cancel = %q, %v", data, err)
	}
	if got := s.Stats(); got.Accepted != 1 || got.SFTPSessions != 2 {
		t.Errorf("server stats %+v, want 1 connection, 2 SFTP sessions", got)
	}
}
