package runlock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A helper process: with RUNLOCK_HELPER=path the test binary takes the lock,
// says "locked", and holds it until its stdin closes or it is killed.
func TestMain(m *testing.M) {
	if p := os.Getenv("RUNLOCK_HELPER"); p != "" {
		l, err := Acquire(p)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(3)
		}
		fmt.Println("locked")
		bufio.NewReader(os.Stdin).ReadString('\n')
		l.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestAcquireRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "run.lock")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", st.Mode().Perm())
	}
	if dst, _ := os.Stat(filepath.Dir(path)); dst.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", dst.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	re := regexp.MustCompile(fmt.Sprintf(`^pid=%d started=\d{4}-\d\d-\d\dT\S+ cmd=\S+`, os.Getpid()))
	if !re.Match(b) {
		t.Errorf("record %q does not match %s", b, re)
	}

	// A second Acquire in the same process opens its own file description:
	// flock conflicts with it as with another process.
	_, err = Acquire(path)
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: got %v, want *HeldError", err)
	}
	if held.Path != path || !strings.Contains(held.Holder, fmt.Sprintf("pid=%d ", os.Getpid())) {
		t.Errorf("HeldError = %+v", held)
	}
	for _, want := range []string{"another smcfleet run holds the lock " + path, "pid=", "wait for it", "stale file alone does not block"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}

	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	l2, err := Acquire(path)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l2.Release()
}

func TestStaleFileDoesNotBlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.lock")
	os.WriteFile(path, []byte("pid=999999 started=2001-01-01T00:00:00Z cmd=smcfleet apply x\n"), 0o600)
	l, err := Acquire(path)
	if err != nil {
		t.Fatalf("a file without a holder blocked: %v", err)
	}
	defer l.Release()
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "999999") {
		t.Errorf("old record kept: %q", b)
	}
}

// TestOtherProcess: a lock held by another process blocks, names that
// process, and is gone the moment the process dies (killed, no cleanup).
func TestOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RUNLOCK_HELPER="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q", line)
	}

	_, err = Acquire(path)
	var held *HeldError
	if !errors.As(err, &held) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("got %v, want *HeldError", err)
	}
	if want := fmt.Sprintf("pid=%d ", cmd.Process.Pid); !strings.HasPrefix(held.Holder, want) {
		t.Errorf("holder %q, want it to start with %q", held.Holder, want)
	}

	cmd.Process.Kill()
	cmd.Wait()
	// The killed holder left its record behind; the lock went with it.
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), fmt.Sprintf("pid=%d", cmd.Process.Pid)) {
		t.Errorf("expected the dead holder's record to remain, got %q", b)
	}
	l, err := Acquire(path)
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	l.Release()
}

func TestCommandLine(t *testing.T) {
	got := CommandLine([]string{"/usr/bin/smcfleet", "apply", "--var", "smtp_password=hunter2", "--var=region=x", "-var", "a=b", "-i", "f.hcl", "cert-refresh"})
	want := "smcfleet apply --var smtp_password=(redacted) --var=region=(redacted) -var a=(redacted) -i f.hcl cert-refresh"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestDefaultPath(t *testing.T) {
	for _, c := range []struct {
		euid      int
		xdg, home string
		want      string
	}{
		{0, "/run/user/0", "/root", "/run/lock/smcfleet.lock"},
		{1000, "/run/user/1000", "/home/x", "/run/user/1000/smcfleet/run.lock"},
		{1000, "", "/home/x", "/home/x/.cache/smcfleet/run.lock"},
	} {
		if got := defaultPath(c.euid, c.xdg, c.home); got != c.want {
			t.Errorf("defaultPath(%d, %q, %q) = %s, want %s", c.euid, c.xdg, c.home, got, c.want)
		}
	}
	if DefaultPath() == "" {
		t.Error("DefaultPath is empty")
	}
}
