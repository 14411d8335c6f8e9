package sshconn

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/term"
)

// Config describes how to reach and authenticate to one host.
type Config struct {
	// Name labels the host in messages (the inventory name).
	Name string
	// Address is a host name or IP; Port defaults to 22.
	Address string
	Port    int
	User    string

	// IdentityFiles are private key files, tried in order. Encrypted keys
	// are unlocked through PassphraseFunc.
	IdentityFiles []string
	// UseAgent offers the keys of the agent at $SSH_AUTH_SOCK.
	UseAgent bool
	// Password enables password authentication; empty means never.
	Password string
	// PassphraseFunc returns the passphrase of an encrypted key file.
	PassphraseFunc func(keyFile string) ([]byte, error)

	// KnownHostsFile is an OpenSSH known_hosts file (hashed entries and
	// [host]:port forms included). It may not exist yet.
	KnownHostsFile string
	// HostKeys pins accepted host keys: "ssh-ed25519 AAAA..." lines or
	// "SHA256:..." fingerprints.
	HostKeys []string
	// AcceptNew records unknown host keys in KnownHostsFile (never a
	// changed one), like OpenSSH's StrictHostKeyChecking=accept-new.
	AcceptNew bool

	// Jump lists ProxyJump hops, first hop first.
	Jump []Config

	// ConnectTimeout bounds TCP connect plus handshake of each hop;
	// 0 means 30s.
	ConnectTimeout time.Duration
	// CommandTimeout bounds each Run; 0 means none.
	CommandTimeout time.Duration
	// NoPIDWrapper stops Run from prefixing each command with
	// `printf '\036smcfleet-pid=%s\n' "$$" >&2; `, which reports the
	// remote shell's PID on stderr (Run removes that line again). Without
	// the PID a cancelled Run can only send the SSH "signal" request,
	// which OpenSSH ignores for root logins, so the remote command may
	// keep running. Set it for hosts whose login shell is not a POSIX
	// shell (csh, fish) or that are not Unix.
	NoPIDWrapper bool
	// KeepAliveInterval is the keepalive period; three unanswered
	// keepalives close the connection. 0 means 15s, negative disables.
	KeepAliveInterval time.Duration
}

const (
	defaultConnectTimeout = 30 * time.Second
	defaultKeepAlive      = 15 * time.Second
)

func (c *Config) port() int {
	if c.Port == 0 {
		return 22
	}
	return c.Port
}

func (c *Config) addr() string {
	return net.JoinHostPort(c.Address, strconv.Itoa(c.port()))
}

func (c *Config) label() string {
	if c.Name != "" {
		return c.Name
	}
	return c.addr()
}

func (c *Config) connectTimeout() time.Duration {
	if c.ConnectTimeout > 0 {
		return c.ConnectTimeout
	}
	return defaultConnectTimeout
}

func (c *Config) validate() error {
	switch {
	case c.Address == "":
		return errors.New("no address")
	case c.User == "":
		return errors.New("no user")
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("bad port %d", c.Port)
	}
	return nil
}

// authMethods builds the methods in OpenSSH's order: agent, keys, password.
// The closer closes the agent connection once the handshake is over.
func (c *Config) authMethods() ([]ssh.AuthMethod, func(), error) {
	var methods []ssh.AuthMethod
	var signers []ssh.Signer
	closer := func() {}
	if c.UseAgent {
		if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
			conn, err := net.Dial("unix", sock)
			if err != nil {
				return nil, nil, fmt.Errorf("ssh agent at SSH_AUTH_SOCK=%s: %w", sock, err)
			}
			closer = func() { conn.Close() }
			methods = append(methods, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
		}
	}
	for _, file := range c.IdentityFiles {
		s, err := c.loadKey(file)
		if err != nil {
			closer()
			return nil, nil, err
		}
		signers = append(signers, s)
	}
	if len(signers) > 0 {
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	if c.Password != "" {
		methods = append(methods, ssh.Password(c.Password))
	}
	if len(methods) == 0 {
		return nil, nil, errors.New("no authentication method: set an identity file, " +
			"use the ssh agent (SSH_AUTH_SOCK), or configure a password")
	}
	return methods, closer, nil
}

func (c *Config) loadKey(file string) (ssh.Signer, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	s, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		if err != nil {
			return nil, fmt.Errorf("identity file %s: %w", file, err)
		}
		return s, nil
	}
	if c.PassphraseFunc == nil {
		return nil, fmt.Errorf("identity file %s is encrypted and no passphrase source is configured", file)
	}
	pass, err := c.PassphraseFunc(file)
	if err != nil {
		return nil, fmt.Errorf("passphrase for %s: %w", file, err)
	}
	s, err = ssh.ParsePrivateKeyWithPassphrase(pem, pass)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", file, err)
	}
	return s, nil
}

// PassphraseFromEnvOrTerminal returns a PassphraseFunc that takes the
// passphrase from the environment variable envName, or else asks on the
// terminal once per key file (parallel dials share the answer).
func PassphraseFromEnvOrTerminal(envName string) func(keyFile string) ([]byte, error) {
	var mu sync.Mutex
	cache := map[string][]byte{}
	return func(keyFile string) ([]byte, error) {
		if v, ok := os.LookupEnv(envName); ok {
			return []byte(v), nil
		}
		mu.Lock()
		defer mu.Unlock()
		if p, ok := cache[keyFile]; ok {
			return p, nil
		}
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil || !term.IsTerminal(int(tty.Fd())) {
			if tty != nil {
				tty.Close()
			}
			return nil, fmt.Errorf("key %s is encrypted: set %s or run from a terminal to be asked", keyFile, envName)
		}
		defer tty.Close()
		fmt.Fprintf(tty, "Passphrase for %s: ", keyFile)
		p, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		cache[keyFile] = p
		return p, nil
	}
}
