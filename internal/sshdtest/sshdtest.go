// Package sshdtest runs a fleet of real OpenSSH sshd processes as
// simulated SNA Managers for integration tests.
//
// Each host is an sshd on its own loopback address (127.0.0.N:22, N from 2)
// inside its own mount and PID namespaces, where
//
//   - /lancope is the host's own directory (Host.LancopeDir),
//   - /etc/hosts is the host's own file (Options.HostsEntries), so tests
//     never resolve real names through the machine's resolver,
//   - /root is the host's own directory (Host.RootDir), with an empty
//     .bashrc: root's real one costs about 0.3 s per command, and hosts
//     must not share what playbooks write under /root,
//   - `docker` is a fake client first in PATH that restarts containers by
//     appending to Host.DockerLog.
//
// The PID namespace is what makes Stop reliable: sshd gives every
// connection and every command a session (and process group) of its own,
// so killing the listener's process group leaves open sessions running;
// ending the namespace's init ends them all. Each namespace also watches a
// pipe from the test process and ends itself when that process dies
// without cleaning up (a -timeout panic, Ctrl-C).
//
// Fleets in concurrent test processes share the machine: they reserve
// addresses and the /lancope mount point through abstract unix sockets
// (see machine.go), so `go test ./...` may run several at once.
//
// Start needs root, /usr/sbin/sshd and unshare(1). Without them it skips
// the test, except when CI=true, where it fails instead: a CI job that
// silently skips its integration tests is misconfigured.
package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHDPath is the OpenSSH server the fleet runs.
const SSHDPath = "/usr/sbin/sshd"

const (
	startTimeout = 10 * time.Second
	stopTimeout  = 5 * time.Second
)

// Options describe a fleet.
type Options struct {
	// Hosts is how many hosts to start (1 to 253).
	Hosts int
	// HostsEntries map names to addresses in every host's /etc/hosts, e.g.
	// {"email-smtp.us-east-1.amazonaws.com": "127.0.0.1"}.
	HostsEntries map[string]string
	// Seed lays out a host's /lancope before its sshd starts. It is called
	// with the host's name and its LancopeDir.
	Seed func(name, lancopeDir string) error
	// Containers are the containers the fake docker knows, all running;
	// empty means DefaultContainers.
	Containers []string
}

// Fleet is a set of running hosts sharing one client key.
type Fleet struct {
	Hosts []*Host
	// ClientKeyFile is an unencrypted ed25519 key every host accepts for
	// root; ClientKeyFile+".pub" is its public half.
	ClientKeyFile string
	// KnownHostsFile lists every host's key under its address.
	KnownHostsFile string
	// Dir holds everything the fleet made; it is removed at cleanup.
	Dir string

	t      testing.TB
	claims []net.Listener
}

// Host is one simulated Manager.
type Host struct {
	Name string // smc-01, smc-02, ...
	Addr string // 127.0.0.N
	Port int    // always 22
	// LancopeDir is the real directory the host sees as /lancope.
	LancopeDir string
	// HostKey is the host's ed25519 key; HostKeyLine is it as
	// "ssh-ed25519 AAAA..." (an inventory host_keys entry).
	HostKey     ssh.PublicKey
	HostKeyLine string
	// DockerLog gets one line "restart NAME <unix time>" per container
	// restarted with the fake docker.
	DockerLog string
	// SSHDLog is sshd's stderr (-e): connections, auth, errors.
	SSHDLog string
	// RootDir is the real directory the host sees as /root.
	RootDir string

	dir      string
	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
}

var (
	probeOnce sync.Once
	probeErr  error
)

// probe checks once per process that this machine can run a fleet.
func probe() error {
	probeOnce.Do(func() {
		if os.Geteuid() != 0 {
			probeErr = errors.New("sshdtest needs root (mount namespaces, port 22, root logins)")
			return
		}
		if _, err := os.Stat(SSHDPath); err != nil {
			probeErr = fmt.Errorf("%s is not installed (apt-get install openssh-server openssh-sftp-server)", SSHDPath)
			return
		}
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			probeErr = errors.New("unshare(1) is not installed (util-linux)")
			return
		}
		out, err := exec.Command(unshare, namespaceFlags("true")...).CombinedOutput()
		if err != nil {
			probeErr = fmt.Errorf("unshare cannot create mount and PID namespaces here: %v: %s", err, trimOut(out))
		}
	})
	return probeErr
}

func trimOut(b []byte) string { return strings.TrimSpace(string(b)) }

// namespaceFlags are unshare's arguments to run argv in fresh mount and PID
// namespaces with its own /proc (so that ps and pkill inside see only the
// host's processes, with the PIDs the host's shells report). unshare
// blocks SIGTERM while it waits, so a SIGTERM to the process group reaches
// only the namespace's init, and unshare exits once every process in the
// namespace is gone.
func namespaceFlags(argv ...string) []string {
	return append([]string{"--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc", "--kill-child"}, argv...)
}

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but the OpenSSH fleet cannot run: %v", err)
	}
	t.Skipf("skipping OpenSSH fleet test: %v", err)
}

// safePath is what Start accepts for its directory: the paths go into
// sshd_config and shell scripts, where quoting rules differ.
var safePath = regexp.MustCompile(`^[A-Za-z0-9/._+-]+$`)

// Start runs the fleet and registers its cleanup with t. Every sshd is
// listening when Start returns.
func Start(t testing.TB, opts Options) *Fleet {
	t.Helper()
	if err := probe(); err != nil {
		skipOrFail(t, err)
	}
	if opts.Hosts < 1 || opts.Hosts > lastHost-firstHost+1 {
		t.Fatalf("sshdtest: Hosts = %d, want 1 to %d", opts.Hosts, lastHost-firstHost+1)
	}
	if len(opts.Containers) == 0 {
		opts.Containers = DefaultContainers
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // sshd's privilege separation directory
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sshdtest-")
	if err != nil {
		t.Fatal(err)
	}
	if !safePath.MatchString(dir) {
		os.RemoveAll(dir)
		t.Fatalf("sshdtest: temp dir %q has characters sshd_config or sh would need quoted; set TMPDIR", dir)
	}
	if dir == "/root" || strings.HasPrefix(dir, "/root/") {
		// Each host mounts its own /root: files under the real one (its
		// authorized_keys among them) would be hidden from sshd.
		os.RemoveAll(dir)
		t.Fatalf("sshdtest: temp dir %q is under /root, which every host replaces; set TMPDIR", dir)
	}
	f := &Fleet{Dir: dir, t: t}
	t.Cleanup(f.cleanup)

	lock, err := lockMachine(startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	err = ensureLancope()
	var ns []int
	if err == nil {
		ns, f.claims, err = claimAddrs(opts.Hosts)
	}
	lock.unlock()
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}

	clientPub, err := f.writeClientKey()
	if err != nil {
		t.Fatal(err)
	}
	var known []byte
	for i, n := range ns {
		h, err := f.prepareHost(i+1, n, opts)
		if err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		f.Hosts = append(f.Hosts, h)
		known = fmt.Appendf(known, "%s\n", knownhosts.Line([]string{knownhosts.Normalize(h.address())}, h.HostKey))
	}
	f.KnownHostsFile = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(f.KnownHostsFile, known, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientPub), 0o600); err != nil {
		t.Fatal(err)
	}
	// Start every sshd, then wait for all: they come up in parallel.
	for _, h := range f.Hosts {
		if err := h.start(); err != nil {
			t.Fatalf("sshdtest: %s: %v", h.Name, err)
		}
	}
	deadline := time.Now().Add(startTimeout)
	for _, h := range f.Hosts {
		if err := h.waitListening(deadline); err != nil {
			t.Fatalf("sshdtest: %s: %v\nsshd log:\n%s", h.Name, err, h.log())
		}
	}
	return f
}

func (f *Fleet) writeClientKey() (ssh.PublicKey, error) {
	f.ClientKeyFile = filepath.Join(f.Dir, "id_ed25519")
	pub, err := writeKey(f.ClientKeyFile, "sshdtest-client")
	if err != nil {
		return nil, err
	}
	return pub, os.WriteFile(f.ClientKeyFile+".pub", ssh.MarshalAuthorizedKey(pub), 0o644)
}

// writeKey writes a new ed25519 private key in OpenSSH format.
func writeKey(path, comment string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
}

// prepareHost lays out the i-th host's files, listening on 127.0.0.n:
//
//	<dir>/<name>/lancope/       bind-mounted on /lancope
//	<dir>/<name>/bin/docker     the fake docker, first in PATH
//	<dir>/<name>/docker/        container state
//	<dir>/<name>/docker.log     restarts
//	<dir>/<name>/hosts          bind-mounted on /etc/hosts
//	<dir>/<name>/sshd_config, hostkey, sshd.pid, sshd.log, start.sh
func (f *Fleet) prepareHost(i, n int, opts Options) (*Host, error) {
	name := fmt.Sprintf("smc-%02d", i)
	hd := filepath.Join(f.Dir, name)
	h := &Host{
		Name:       name,
		Addr:       fmt.Sprintf("127.0.0.%d", n),
		Port:       22,
		LancopeDir: filepath.Join(hd, "lancope"),
		DockerLog:  filepath.Join(hd, "docker.log"),
		SSHDLog:    filepath.Join(hd, "sshd.log"),
		dir:        hd,
	}
	if err := os.MkdirAll(h.LancopeDir, 0o755); err != nil {
		return nil, err
	}
	key, err := writeKey(filepath.Join(hd, "hostkey"), name)
	if err != nil {
		return nil, err
	}
	h.HostKey = key
	h.HostKeyLine = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))

	binDir := filepath.Join(hd, "bin")
	if err := writeDocker(binDir, filepath.Join(hd, "docker"), h.DockerLog, name, opts.Containers); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(hd, "hosts"), hostsFile(h, opts.HostsEntries), 0o644); err != nil {
		return nil, err
	}
	h.RootDir = filepath.Join(hd, "root")
	if err := os.MkdirAll(h.RootDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(h.RootDir, ".bashrc"), nil, 0o644); err != nil {
		return nil, err
	}
	// AuthorizedKeysFile expands %-tokens; the other paths are taken as is.
	cfg := fmt.Sprintf(`ListenAddress %s:%d
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
Subsystem sftp internal-sftp
SetEnv PATH=%s:/usr/sbin:/usr/bin:/sbin:/bin
`, h.Addr, h.Port, filepath.Join(hd, "hostkey"), filepath.Join(hd, "sshd.pid"),
		strings.ReplaceAll(filepath.Join(f.Dir, "authorized_keys"), "%", "%%"), binDir)
	if err := os.WriteFile(filepath.Join(hd, "sshd_config"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	if opts.Seed != nil {
		if err := opts.Seed(name, h.LancopeDir); err != nil {
			return nil, fmt.Errorf("seed %s: %w", name, err)
		}
	}
	return h, nil
}

func hostsFile(h *Host, entries map[string]string) []byte {
	b := fmt.Appendf(nil, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", h.Addr, h.Name)
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b = fmt.Appendf(b, "%s\t%s\n", entries[name], name)
	}
	return b
}

func (h *Host) address() string { return net.JoinHostPort(h.Addr, fmt.Sprint(h.Port)) }

// start runs sshd in its namespaces, in a process group of its own.
func (h *Host) start() error {
	script := fmt.Sprintf("set -e\nmount --bind %s %s\nmount --bind %s /etc/hosts\n",
		shellQuote(h.LancopeDir), lancopeMount, shellQuote(filepath.Join(h.dir, "hosts")))
	script += fmt.Sprintf("mount --bind %s /root\n", shellQuote(h.RootDir))
	// The lifeline: fd 3 is the read end of a pipe only this process can
	// write to, so it reaches EOF when this process dies, however it dies
	// (a test timeout, Ctrl-C), and the watcher then ends the namespace.
	// sshd handles SIGTERM; until it has installed its handler, init
	// ignores signals, hence the loop.
	script += "(cat <&3 >/dev/null; while kill -TERM 1 2>/dev/null; do sleep 0.1; done) &\nexec 3<&-\n"
	script += fmt.Sprintf("exec %s -D -e -f %s\n", SSHDPath, shellQuote(filepath.Join(h.dir, "sshd_config")))

	logFile, err := os.OpenFile(h.SSHDLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own copy
	h.cmd = exec.Command("unshare", namespaceFlags("sh", "-c", script)...)
	h.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	h.cmd.Stdout, h.cmd.Stderr = logFile, logFile
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	lifeline, keep, err := os.Pipe()
	if err != nil {
		return err
	}
	h.cmd.ExtraFiles = []*os.File{lifeline}
	err = h.cmd.Start()
	lifeline.Close()
	if err != nil {
		keep.Close()
		return err
	}
	h.exited = make(chan struct{})
	go func() {
		h.cmd.Wait()
		keep.Close()
		close(h.exited)
	}()
	return nil
}

func (h *Host) waitListening(deadline time.Time) error {
	for {
		c, err := net.DialTimeout("tcp", h.address(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-h.exited:
			return fmt.Errorf("sshd exited before listening: %v", h.cmd.ProcessState)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v: %v", h.address(), startTimeout, err)
		}
	}
}

func (h *Host) log() string {
	b, _ := os.ReadFile(h.SSHDLog)
	return string(b)
}

// Stop ends the host: its sshd and every session and command it started.
// It returns once they are all gone. Stopping twice is harmless; the
// address stays reserved for the fleet until cleanup.
func (h *Host) Stop() {
	h.stopOnce.Do(func() {
		if h.cmd == nil || h.cmd.Process == nil {
			return
		}
		pgid := h.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-h.exited:
			return
		case <-time.After(stopTimeout):
		}
		// sshd is wedged: SIGKILL also reaches unshare, and --kill-child
		// takes the namespace's init down with it.
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-h.exited
	})
}

func (f *Fleet) cleanup() {
	for _, h := range f.Hosts {
		h.Stop()
	}
	if f.t.Failed() {
		for _, h := range f.Hosts {
			if log := h.log(); log != "" {
				f.t.Logf("%s (%s) sshd log:\n%s", h.Name, h.Addr, log)
			}
		}
	}
	lock, err := lockMachine(startTimeout)
	for _, c := range f.claims {
		c.Close()
	}
	if err != nil {
		f.t.Errorf("sshdtest cleanup: %v; leaving %s for a later fleet to remove", err, lancopeMount)
	} else {
		if err := releaseLancope(); err != nil {
			f.t.Errorf("sshdtest cleanup: %v", err)
		}
		lock.unlock()
	}
	if err := os.RemoveAll(f.Dir); err != nil {
		f.t.Errorf("sshdtest cleanup: %v", err)
	}
}
