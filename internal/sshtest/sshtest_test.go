package sshtest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/smcfleet/smcfleet/internal/sshtest"
)

func connect(t *testing.T, s *sshtest.Server) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User:            "u",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.ClientSigner())},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey()),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestExec(t *testing.T) {
	s := sshtest.NewServer(t)
	c := connect(t, s)
	sess, _ := c.NewSession()
	sess.Stdin = bytes.NewReader([]byte("in"))
	out, err := sess.Output("cat; exit 7")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 7 || string(out) != "in" {
		t.Errorf("Output = %q, %v; want \"in\", exit 7", out, err)
	}
	if got := s.Stats().Execs; len(got) != 1 || got[0] != "cat; exit 7" {
		t.Errorf("Execs = %q", got)
	}
}

func TestCustomExecHandler(t *testing.T) {
	s := sshtest.NewServer(t, sshtest.WithExecHandler(func(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) int {
		io.WriteString(stdout, "fake:"+cmd)
		return 2
	}))
	sess, _ := connect(t, s).NewSession()
	out, err := sess.Output("x")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 2 || string(out) != "fake:x" {
		t.Errorf("Output = %q, %v", out, err)
	}
}

func TestSFTPRoot(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600)
	os.Symlink(outside, filepath.Join(root, "link"))
	s := sshtest.NewServer(t, sshtest.WithRoot(root))
	sc, err := sftp.NewClient(connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	if err := sc.MkdirAll("/lancope/etc"); err != nil {
		t.Fatal(err)
	}
	f, err := sc.Create("/lancope/etc/../etc/a")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("a"))
	f.Close()
	if data, _ := os.ReadFile(filepath.Join(root, "lancope/etc/a")); string(data) != "a" {
		t.Errorf("jailed file = %q", data)
	}
	if _, err := sc.Stat("/../../" + filepath.Base(outside)); err == nil {
		t.Error("stat escaped the root through ..")
	}
	if _, err := sc.Open("/link/secret"); err == nil {
		t.Error("open escaped the root through a symlink")
	}

	// SSH_FXP_RENAME never replaces, as in OpenSSH; posix-rename does.
	os.WriteFile(filepath.Join(root, "b"), []byte("b"), 0o644)
	if err := sc.Rename("/b", "/lancope/etc/a"); err == nil {
		t.Error("Rename replaced an existing file")
	}
	if err := sc.PosixRename("/b", "/lancope/etc/a"); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "lancope/etc/a")); string(data) != "b" {
		t.Errorf("after PosixRename = %q", data)
	}
	if err := sc.Link("/lancope/etc/a", "/c"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Link("/lancope/etc/a", "/c"); err == nil {
		t.Error("Link replaced an existing file")
	}
}

func TestFaultKnobs(t *testing.T) {
	s := sshtest.NewServer(t)
	s.ChangeHostKey(true)
	_, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User:            "u",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.ClientSigner())},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey()),
	})
	if err == nil {
		t.Error("ChangeHostKey: handshake accepted the old key")
	}
	s.ChangeHostKey(false)

	s.Refuse(true)
	if _, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{HostKeyCallback: ssh.FixedHostKey(s.HostKey())}); err == nil {
		t.Error("Refuse: handshake succeeded")
	}
	s.Refuse(false)
	if got := s.Stats(); got.Accepted != 2 || got.Handshakes != 0 {
		t.Errorf("stats = %+v, want 2 accepted, 0 handshakes", got)
	}

	c := connect(t, s)
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	s.DropAfterBytes(64 << 10)
	f, err := sc.Create(filepath.Join(t.TempDir(), "big"))
	if err == nil {
		_, err = f.Write(make([]byte, 1<<20))
	}
	if err == nil {
		t.Error("DropAfterBytes: 1 MiB write succeeded")
	}
	if err := c.Wait(); err == nil {
		t.Error("connection still up after drop")
	}
}
