// Package lab is a simulated fleet of SNA Managers on loopback, for the
// demo, the end-to-end tests and rehearsals. Each Manager has an SSH server
// (exec through a jailed shell, SFTP jailed in the host's own directory,
// seeded like a real Manager), containers that really re-read tls-ciphers
// when restarted, and (see api.go, ses.go) the Central Management API and a
// notification path to a simulated Amazon SES.
package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/smcfleet/smcfleet/internal/atomicfile"
	"github.com/smcfleet/smcfleet/internal/lab/labca"
	"github.com/smcfleet/smcfleet/internal/lab/ses"
	"github.com/smcfleet/smcfleet/internal/lab/shell"
	"github.com/smcfleet/smcfleet/internal/lab/smcapi"
	"github.com/smcfleet/smcfleet/internal/sshconn"
	"github.com/smcfleet/smcfleet/internal/sshtest"
)

// Options configure a lab.
type Options struct {
	Hosts  int    // number of Managers, smc-01…
	Dir    string // where the hosts' files, keys and inventory go
	Region string // SES region, default us-east-1
	// LegacyDHE starts the simulated SES in legacy-DHE mode (needs openssl).
	LegacyDHE bool
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Lab is a running simulated fleet.
type Lab struct {
	Dir    string
	Region string
	Hosts  []*Host

	clientKeyFile string
	now           func() time.Time
	apiCA         *labca.CA
	apiPassword   string
	chain         *labca.Chain
	ses           *ses.Server
	legacyDHE     bool
	smtpUser      string
	smtpPassword  string
	closeOnce     sync.Once
	closers       []func() error
}

// Host is one simulated Manager.
type Host struct {
	Name    string
	Root    string // the Manager's "/"
	SSH     *sshtest.Server
	Manager *Manager
	Shell   *shell.Shell
	// API is the host's simulated Central Management API.
	API *smcapi.Server
	api *hostAPI
}

// Host returns the host called name, or nil.
func (l *Lab) Host(name string) *Host {
	for _, h := range l.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// HostName is the name of the i-th host (from 1).
func HostName(i int) string { return fmt.Sprintf("smc-%02d", i) }

// Start builds and starts a lab. Everything listens on 127.0.0.1 only.
func Start(ctx context.Context, o Options) (*Lab, error) {
	if o.Hosts <= 0 {
		o.Hosts = 3
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Dir == "" {
		return nil, fmt.Errorf("lab: no directory")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &Lab{Dir: dir, Region: o.Region, now: o.Now, legacyDHE: o.LegacyDHE}
	ok := false
	defer func() {
		if !ok {
			l.Close()
		}
	}()
	clientPub, err := l.writeClientKey()
	if err != nil {
		return nil, err
	}
	if err := l.startServices(ctx); err != nil {
		return nil, err
	}
	for i := 1; i <= o.Hosts; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := l.startHost(HostName(i), clientPub)
		if err != nil {
			return nil, fmt.Errorf("lab: start %s: %w", HostName(i), err)
		}
		l.Hosts = append(l.Hosts, h)
	}
	if err := l.writeInventory(); err != nil {
		return nil, err
	}
	ok = true
	return l, nil
}

func (l *Lab) writeClientKey() (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "smcfleet lab client key")
	if err != nil {
		return nil, err
	}
	l.clientKeyFile = filepath.Join(l.Dir, "id_ed25519")
	if err := atomicfile.WriteFile(l.clientKeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return sshPub, atomicfile.WriteFile(l.clientKeyFile+".pub", ssh.MarshalAuthorizedKey(sshPub), 0o644)
}

func (l *Lab) startHost(name string, clientPub ssh.PublicKey) (*Host, error) {
	root := filepath.Join(l.Dir, "hosts", name)
	mgr, err := newManager(name, root, l.now)
	if err != nil {
		return nil, err
	}
	h := &Host{Name: name, Root: root, Manager: mgr}
	h.Shell, err = shell.New(shell.Config{
		Root:     root,
		Hostname: name,
		Docker:   mgr.Docker,
		Dial:     l.dial,
	})
	if err != nil {
		return nil, err
	}
	// smcfleet prefixes each command with a line that reports the shell's
	// PID, to kill its process group on cancel; the simulated shell has no
	// processes to kill (cancellation reaches it through ctx), so it runs
	// the command as the user wrote it.
	exec := func(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) int {
		return h.Shell.Exec(ctx, sshconn.UnwrapCommand(cmd), stdin, stdout, stderr)
	}
	h.SSH, err = sshtest.Start(sshtest.Options{Root: root, Exec: exec, Forward: l.dial})
	if err != nil {
		return nil, err
	}
	l.closers = append(l.closers, h.SSH.Close)
	h.SSH.Authorize(clientPub)
	if err := l.startHostServices(h); err != nil {
		return nil, err
	}
	return h, nil
}

// Close stops every server. The directory stays, so a test can inspect it.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		for i := len(l.closers) - 1; i >= 0; i-- {
			l.closers[i]()
		}
	})
	return nil
}

// InventoryPath is the inventory written for this lab.
func (l *Lab) InventoryPath() string { return filepath.Join(l.Dir, "inventory.hcl") }

// VarsPath is the var file with the simulated SES endpoint and credentials.
func (l *Lab) VarsPath() string { return filepath.Join(l.Dir, "ses.vars.hcl") }

// KnownHostsPath is the known_hosts file of the lab's hosts.
func (l *Lab) KnownHostsPath() string { return filepath.Join(l.Dir, "known_hosts") }

func (l *Lab) writeInventory() error {
	var kh strings.Builder
	for _, h := range l.Hosts {
		for _, k := range h.SSH.HostKeys() {
			fmt.Fprintf(&kh, "[%s]:%d %s", h.SSH.Host(), h.SSH.Port(), ssh.MarshalAuthorizedKey(k))
		}
	}
	if err := atomicfile.WriteFile(l.KnownHostsPath(), []byte(kh.String()), 0o600); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by "smcfleet lab up" for the simulated fleet in this directory.
# It is valid while the lab runs: the ports change with every start.

defaults {
  user           = "root"
  identity_files = ["id_ed25519"]
  ssh_agent      = false
  known_hosts    = "known_hosts"
%s}
`, l.inventoryDefaultsExtra())
	for _, h := range l.Hosts {
		fmt.Fprintf(&b, "\nhost %q {\n  address = %q\n  port    = %d\n%s}\n", h.Name, h.SSH.Host(), h.SSH.Port(), l.inventoryHostExtra(h))
	}
	return atomicfile.WriteFile(l.InventoryPath(), []byte(b.String()), 0o644)
}
