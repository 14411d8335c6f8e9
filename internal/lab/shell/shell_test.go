package shell

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type result struct {
	out, err string
	code     int
}

func newShell(t *testing.T, cfg Config) (*Shell, string) {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = t.TempDir()
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "smc-01.lab"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, cfg.Root
}

func run(t *testing.T, s *Shell, cmd string) result {
	t.Helper()
	return runIn(t, s, cmd, "")
}

func runIn(t *testing.T, s *Shell, cmd, stdin string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := s.Exec(ctx, cmd, strings.NewReader(stdin), &out, &errb)
	return result{out.String(), errb.String(), code}
}

func write(t *testing.T, root, rel, data string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func expect(t *testing.T, s *Shell, cmd string, wantOut string, wantCode int) result {
	t.Helper()
	r := run(t, s, cmd)
	if r.out != wantOut || r.code != wantCode {
		t.Errorf("%s:\n got (%d) stdout %q stderr %q\nwant (%d) stdout %q", cmd, r.code, r.out, r.err, wantCode, wantOut)
	}
	return r
}

func TestJail(t *testing.T) {
	outside := t.TempDir()
	write(t, outside, "secret", "SECRET\n")
	s, root := newShell(t, Config{})

	r := run(t, s, "cat /etc/passwd")
	if r.code != 1 || !strings.Contains(r.err, "cat: /etc/passwd: No such file or directory") {
		t.Errorf("cat /etc/passwd = %+v", r)
	}
	r = run(t, s, "cat ../../../../etc/hostname; cat /../../etc/hostname")
	if r.code != 1 || r.out != "" {
		t.Errorf("escape with ..: %+v", r)
	}
	// Symlinks pointing outside resolve inside the jail.
	if err := os.Symlink("/etc", filepath.Join(root, "root", "etc-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "abs-secret")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../.."+outside+"/secret", filepath.Join(root, "rel-secret")); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{
		"cat etc-link/hostname", "ls etc-link/", "cat /abs-secret", "cat /rel-secret",
		"cat < /abs-secret", "cp /abs-secret /root/x && cat /root/x", "grep -r . /abs-secret",
		"sha256sum /rel-secret", "cd etc-link && ls",
	} {
		if r := run(t, s, cmd); strings.Contains(r.out, "SECRET") || strings.Contains(r.out, "root:") || r.code == 0 {
			t.Errorf("%s escaped the jail: %+v", cmd, r)
		}
	}
	// Seeded /etc inside the jail is what the link reaches.
	write(t, root, "etc/hostname", "smc-01\n")
	expect(t, s, "cat etc-link/hostname", "smc-01\n", 0)
	expect(t, s, "readlink -f etc-link/hostname", "/etc/hostname\n", 0)

	expect(t, s, "echo x > /tmp/f; cat /tmp/f", "", 1) // /tmp does not exist yet
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	expect(t, s, "echo x > /tmp/f && cat /tmp/f", "x\n", 0)
	if b, err := os.ReadFile(filepath.Join(root, "tmp", "f")); err != nil || string(b) != "x\n" {
		t.Errorf("ROOT/tmp/f = %q, %v", b, err)
	}
	expect(t, s, "echo hidden > /dev/null; cat /dev/null; echo done", "done\n", 0)
	if _, err := os.Stat(filepath.Join(root, "dev")); !os.IsNotExist(err) {
		t.Errorf("ROOT/dev was created: %v", err)
	}
	expect(t, s, "pwd; cd /; pwd; cd ..; pwd; echo $HOME", "/root\n/\n/\n/root\n", 0)
	expect(t, s, "cd /root/etc-link && pwd -P", "/etc\n", 0)
	expect(t, s, "echo *", "etc-link\n", 0)
	expect(t, s, "command -v ls sha256sum cd; which awk", "/usr/bin/ls\n/usr/bin/sha256sum\ncd\n", 1)
	expect(t, s, "type -t ls", "file\n", 0)
	expect(t, s, "/usr/bin/echo hi; /bin/ls -d /root", "hi\n/root\n", 0)

	// No real program runs.
	r = run(t, s, "awk 'BEGIN{print 1}'; /usr/bin/awk; python3 -c 1; systemctl status")
	if r.code != 127 || !strings.Contains(r.err, "bash: awk: command not found") || r.out != "" {
		t.Errorf("awk: %+v", r)
	}
}

func TestShellFeatures(t *testing.T) {
	s, root := newShell(t, Config{})
	expect(t, s, "echo a b | tr a-z A-Z", "A B\n", 0)
	expect(t, s, "x=$(echo hi | wc -c); echo \"[$x]\"", "[3]\n", 0)
	expect(t, s, "cat <<EOF\nline $((1+2))\nEOF", "line 3\n", 0)
	expect(t, s, "cat <<< 'Q'", "Q\n", 0)
	expect(t, s, "false && echo no || echo yes", "yes\n", 0)
	expect(t, s, "true && echo yes || echo no", "yes\n", 0)
	expect(t, s, "exit 3", "", 3)
	expect(t, s, "(exit 4); echo $?", "4\n", 0)
	expect(t, s, "echo out; echo err >&2", "out\n", 0)
	expect(t, s, "ls /nope 2>&1 | head -n1", "ls: cannot access '/nope': No such file or directory\n", 0)
	expect(t, s, "for i in 1 2 3; do echo $i; done | sort -r | head -n 2", "3\n2\n", 0)
	expect(t, s, "f() { echo \"f:$1\"; }; f x", "f:x\n", 0)
	expect(t, s, "echo a > f1; echo b >> f1; cat f1; wc -l < f1", "a\nb\n2\n", 0)
	expect(t, s, "cat /root/missing 2>/dev/null || echo $?", "1\n", 0)
	expect(t, s, "set -e; false; echo no", "", 1)
	expect(t, s, "echo $$ | grep -Eq '^[0-9]+$' && echo pid", "pid\n", 0)
	expect(t, s, "bash -c 'echo $0 $1' x y", "x y\n", 0)
	expect(t, s, "sh -c 'exit 5'", "", 5)
	expect(t, s, "printf '#!/bin/sh\\necho script $1\\n' > s.sh; chmod 755 s.sh; ./s.sh ok", "script ok\n", 0)
	expect(t, s, "export A=1; env | grep '^A='; env B=2 printenv B", "A=1\n2\n", 0)
	expect(t, s, "timeout 5 echo hi; timeout 0.1 sleep 5; echo $?", "hi\n124\n", 0)
	expect(t, s, "echo x > /root/sub/f", "", 1)

	r := run(t, s, "nosuchcmd arg")
	if r.code != 127 || r.err != "bash: nosuchcmd: command not found\n" {
		t.Errorf("unknown command: %+v", r)
	}
	r = run(t, s, "echo 'unterminated")
	if r.code != 2 || !strings.HasPrefix(r.err, "bash: -c:") {
		t.Errorf("syntax error: %+v", r)
	}
	r = run(t, s, "ls --bogus")
	if r.code != 2 || !strings.Contains(r.err, "ls: unrecognized option '--bogus'") || !strings.Contains(r.err, "Try 'ls --help'") {
		t.Errorf("bad flag: %+v", r)
	}
	r = run(t, s, "cat -z")
	if r.code != 2 || !strings.HasPrefix(r.err, "cat: invalid option -- 'z'\n") {
		t.Errorf("bad flag: %+v", r)
	}
	_ = root
}

func TestFileCommands(t *testing.T) {
	s, root := newShell(t, Config{})
	write(t, root, "lancope/a.txt", "alpha\nbeta\ngamma\n")
	write(t, root, "lancope/b.txt", "one\n")

	// sha256sum prints exactly what coreutils prints.
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	want := sum("alpha\nbeta\ngamma\n") + "  /lancope/a.txt\n" + sum("one\n") + "  ../lancope/b.txt\n"
	expect(t, s, "sha256sum -- /lancope/a.txt ../lancope/b.txt", want, 0)
	expect(t, s, "echo -n abc | sha256sum", sum("abc")+"  -\n", 0)
	expect(t, s, "cd /lancope && sha256sum a.txt > sums && sha256sum -c sums", "a.txt: OK\n", 0)

	expect(t, s, "chmod 640 /lancope/a.txt; stat -c '%a %s %U %G %n' /lancope/a.txt", "640 17 root root /lancope/a.txt\n", 0)
	expect(t, s, "chmod u+x,o+r /lancope/a.txt; stat -c %a /lancope/a.txt", "744\n", 0)
	expect(t, s, "mkdir -p /lancope/x/y/z && mkdir -m 700 /lancope/m && stat -c '%a %F' /lancope/x/y/z /lancope/m", "755 directory\n700 directory\n", 0)
	r := expect(t, s, "mkdir /lancope/m", "", 1)
	if r.err != "mkdir: cannot create directory '/lancope/m': File exists\n" {
		t.Errorf("mkdir error: %q", r.err)
	}
	expect(t, s, "cd /lancope; ls", "a.txt\nb.txt\nm\nsums\nx\n", 0)
	expect(t, s, "cd /lancope; ls -1 *.txt", "a.txt\nb.txt\n", 0)
	expect(t, s, "touch -d @1000 /lancope/b.txt; touch -d @2000 /lancope/a.txt; ls -t1 /lancope/*.txt", "/lancope/a.txt\n/lancope/b.txt\n", 0)
	r = run(t, s, "ls -la /lancope")
	if r.code != 0 || !strings.Contains(r.out, "total ") || !strings.Contains(r.out, "-rwxr--r-- 1 root root 17 ") || !strings.Contains(r.out, " a.txt\n") || !strings.Contains(r.out, " ..\n") {
		t.Errorf("ls -la: %+v", r)
	}
	expect(t, s, "cp -p /lancope/a.txt /lancope/c.txt && stat -c '%a %Y' /lancope/c.txt", "744 2000\n", 0)
	expect(t, s, "cp /lancope/b.txt /lancope/x/ && cat /lancope/x/b.txt", "one\n", 0)
	expect(t, s, "mv /lancope/c.txt /lancope/d.txt && cat /lancope/d.txt | head -n 1 && test ! -e /lancope/c.txt && echo gone", "alpha\ngone\n", 0)
	expect(t, s, "cp -r /lancope/x /lancope/x2 && find /lancope/x2 -type f", "/lancope/x2/b.txt\n", 0)
	expect(t, s, "find /lancope -maxdepth 1 -name '*.txt' | sort", "/lancope/a.txt\n/lancope/b.txt\n/lancope/d.txt\n", 0)
	expect(t, s, "rm /lancope/x2 2>&1; rm -r /lancope/x2 && ls /lancope/x2", "rm: cannot remove '/lancope/x2': Is a directory\n", 2)
	expect(t, s, "rm -f /lancope/nope && echo ok", "ok\n", 0)
	expect(t, s, "ln -s /lancope/a.txt /root/l && readlink /root/l && cat /root/l | tail -n 1", "/lancope/a.txt\ngamma\n", 0)
	expect(t, s, "d=$(mktemp -d) && test -d $d && case $d in /tmp/tmp.*) echo ok;; esac", "", 1) // no /tmp
	os.Mkdir(filepath.Join(root, "tmp"), 0o1777)
	expect(t, s, "d=$(mktemp -d) && test -d $d && case $d in /tmp/tmp.*) echo ok;; esac", "ok\n", 0)
	expect(t, s, "f=$(mktemp -p /lancope); stat -c %a $f", "600\n", 0)
	expect(t, s, "echo hi | tee /lancope/t1 /lancope/t2 >/dev/null; cat /lancope/t1 /lancope/t2", "hi\nhi\n", 0)
	expect(t, s, "chown root:root /lancope/t1 && chown 0:0 /lancope/t1 && echo ok", "ok\n", 0)
	expect(t, s, "printf 'a\\n' > /lancope/s; sed -i 's/a/b/g' /lancope/s; cat /lancope/s", "b\n", 0)
	expect(t, s, "df -h / | head -n1 | cut -c1-10", "Filesystem\n", 0)
}

func TestTextCommands(t *testing.T) {
	s, root := newShell(t, Config{})
	write(t, root, "root/log", "INFO start\nERROR smtp 535 Authentication Credentials Invalid\ninfo again\nERROR dh key too small\n")
	expect(t, s, "grep ERROR log", "ERROR smtp 535 Authentication Credentials Invalid\nERROR dh key too small\n", 0)
	expect(t, s, "grep -c ERROR log", "2\n", 0)
	expect(t, s, "grep -i info log | wc -l", "2\n", 0)
	expect(t, s, "grep -v -i -e error -e start log", "info again\n", 0)
	expect(t, s, "grep -n -E '5[0-9]{2}' log", "2:ERROR smtp 535 Authentication Credentials Invalid\n", 0)
	expect(t, s, "grep -o -E '[0-9]+' log", "535\n", 0)
	expect(t, s, "grep -F 'a.b' log", "", 1)
	expect(t, s, "grep -q 'dh key' log && echo found", "found\n", 0)
	expect(t, s, "grep 'x\\(y\\)' log; echo $?", "1\n", 0)
	expect(t, s, "grep nope /root/missing; echo $?", "2\n", 0)
	expect(t, s, "id -u; id -g; id -un; whoami", "0\n0\nroot\nroot\n", 0)
	expect(t, s, "getent group root | cut -d: -f3", "0\n", 0)
	expect(t, s, "getent passwd root", "root:x:0:0:root:/root:/bin/bash\n", 0)
	expect(t, s, "getent group nosuch", "", 2)
	expect(t, s, "hostname; hostname -s; uname -n", "smc-01.lab\nsmc-01\nsmc-01.lab\n", 0)
	expect(t, s, "printf 'b\\na\\nb\\n' | sort | uniq -c", "      1 a\n      2 b\n", 0)
	expect(t, s, "printf 'b\\na\\nb\\n' | sort -u", "a\nb\n", 0)
	expect(t, s, "echo 'a:b:c' | cut -d: -f2,3", "b:c\n", 0)
	expect(t, s, "printf '1\\n2\\n3\\n4\\n' | tail -n 2; printf 'abc' | tail -c 2", "3\n4\nbc", 0)
	expect(t, s, "echo 'hello world' | sed 's/o/0/g'", "hell0 w0rld\n", 0)
	expect(t, s, "echo hi | base64 | base64 -d", "hi\n", 0)
	expect(t, s, "printf '1 2\\n3' | wc -l; printf 'ab' | wc -c", "1\n2\n", 0)
	expect(t, s, "echo a b c | xargs -n 1 echo x", "x a\nx b\nx c\n", 0)
	expect(t, s, "date -d @0 -u +%s:%Y", "0:1970\n", 0)
	expect(t, s, "sleep 0.01 && echo slept", "slept\n", 0)
	expect(t, s, "basename /a/b.pem .pem; dirname /a/b.pem", "b\n/a\n", 0)
}

func TestDocker(t *testing.T) {
	var got []string
	s, _ := newShell(t, Config{Docker: func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		got = slices.Clone(args)
		io.WriteString(stdout, "sw-response-mgmt\n")
		return 3
	}})
	expect(t, s, "docker restart sw-response-mgmt", "sw-response-mgmt\n", 3)
	if !slices.Equal(got, []string{"restart", "sw-response-mgmt"}) {
		t.Errorf("docker args = %q", got)
	}
	expect(t, s, "/usr/bin/docker ps -a >/dev/null; echo $?", "3\n", 0)

	s2, _ := newShell(t, Config{})
	r := run(t, s2, "docker ps")
	if r.code != 127 || !strings.Contains(r.err, "docker: command not found") {
		t.Errorf("docker without handler: %+v", r)
	}
}

func TestCancel(t *testing.T) {
	s, _ := newShell(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	start := time.Now()
	go func() { done <- s.Exec(ctx, "sleep 30; echo after", nil, io.Discard, io.Discard) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != 143 {
			t.Errorf("status = %d, want 143", code)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sleep 30 did not stop after cancel")
	}
}

func TestCancelBlockedRead(t *testing.T) {
	s, _ := newShell(t, Config{})
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	for _, cmd := range []string{"cat", "cat | sort", "timeout 0.2 cat; echo $?"} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		var out bytes.Buffer
		code := s.Exec(ctx, cmd, pr, &out, io.Discard)
		cancel()
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: cancel took %v", cmd, d)
		}
		if strings.HasPrefix(cmd, "timeout") {
			if out.String() != "124\n" {
				t.Errorf("%s: out %q status %d", cmd, out.String(), code)
			}
		} else if code != 143 {
			t.Errorf("%s: status %d, want 143", cmd, code)
		}
	}
}

func TestKillSimulatedPID(t *testing.T) {
	s, _ := newShell(t, Config{})
	var errb lockedBuf
	done := make(chan int)
	go func() {
		done <- s.Exec(context.Background(), `printf 'pid=%s\n' "$$" >&2; sleep 30`, nil, io.Discard, &errb)
	}()
	var pid string
	for i := 0; i < 200 && pid == ""; i++ {
		time.Sleep(10 * time.Millisecond)
		if v, ok := strings.CutPrefix(strings.TrimSpace(errb.String()), "pid="); ok {
			pid = v
		}
	}
	if pid == "" {
		t.Fatal("no pid reported")
	}
	expect(t, s, "kill -s 0 -- -"+pid+" && echo alive", "alive\n", 0)
	expect(t, s, "kill -s TERM -- -"+pid, "", 0)
	select {
	case code := <-done:
		if code != 143 {
			t.Errorf("status = %d, want 143", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kill did not stop the session")
	}
	expect(t, s, "kill -s 0 -- -"+pid+" 2>/dev/null || echo gone", "gone\n", 0)
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestBuiltinsList(t *testing.T) {
	b := Builtins()
	if !slices.IsSorted(b) {
		t.Error("Builtins not sorted")
	}
	for _, name := range []string{"cat", "ls", "sha256sum", "openssl", "docker", "grep", "stat"} {
		if !slices.Contains(b, name) {
			t.Errorf("Builtins lacks %s", name)
		}
	}
	for _, name := range Unsupported() {
		if slices.Contains(b, name) {
			t.Errorf("%s both supported and unsupported", name)
		}
	}
}
