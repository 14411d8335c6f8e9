// Package sshtest is an in-process SSH server for tests: real x/crypto/ssh
// handshakes with a pinned, generated host key, an exec handler that runs
// commands and reports their real exit status, the pkg/sftp server as the
// "sftp" subsystem, direct-tcpip forwarding for jump-host tests, and fault
// knobs (refuse, delay, drop mid-transfer, refuse auth, change host key)
// that can be switched while the server runs.
//
// It listens on 127.0.0.1 only and forwards only to loopback addresses.
package sshtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ExecHandler runs one "exec" request. ctx is cancelled when the client
// sends a signal or the session ends. The returned value is sent back as
// the exit status.
type ExecHandler func(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) int

// Options configures a Server. The zero value is usable.
type Options struct {
	// User is the only accepted user name; empty accepts any user.
	User string
	// Password enables password authentication when non-empty.
	Password string
	// WorkDir is the working directory of exec'd commands and of relative
	// SFTP paths. Empty means Root, or the test process's directory.
	WorkDir string
	// Root jails the SFTP subsystem under this directory: "/x" is Root/x,
	// and neither ".." nor symlinks can leave it. Exec'd commands are not
	// jailed.
	Root string
	// Exec replaces the default /bin/sh -c handler.
	Exec ExecHandler
	// Forward maps the host:port of a direct-tcpip request (a client's
	// tunnel through this server) to the loopback address to connect to;
	// ok=false refuses it, as an unresolvable name. Nil: loopback
	// addresses only, as given.
	Forward func(hostport string) (addr string, ok bool)
	// HostKeyTypes lists the host key types to generate and serve:
	// "ed25519" (default), "ecdsa", "rsa". The first is HostKey().
	HostKeyTypes []string
	// DisableSFTP lists SFTP operations the server answers with
	// "operation unsupported": "posix-rename", "hardlink".
	DisableSFTP []string
	// Dir holds the generated client key files; empty means a new
	// temporary directory removed by Close.
	Dir string
}

// Option changes Options; see NewServer.
type Option func(*Options)

// WithPassword enables password authentication.
func WithPassword(pw string) Option { return func(o *Options) { o.Password = pw } }

// WithUser restricts logins to one user name.
func WithUser(user string) Option { return func(o *Options) { o.User = user } }

// WithRoot jails SFTP paths under dir.
func WithRoot(dir string) Option { return func(o *Options) { o.Root = dir } }

// WithWorkDir sets the working directory of exec'd commands.
func WithWorkDir(dir string) Option { return func(o *Options) { o.WorkDir = dir } }

// WithExecHandler replaces the default shell exec handler.
func WithExecHandler(h ExecHandler) Option { return func(o *Options) { o.Exec = h } }

// WithHostKeyTypes serves one generated host key per listed type.
func WithHostKeyTypes(types ...string) Option {
	return func(o *Options) { o.HostKeyTypes = types }
}

// WithoutSFTP makes the SFTP server reject the named operations
// ("posix-rename", "hardlink") as unsupported.
func WithoutSFTP(ops ...string) Option {
	return func(o *Options) { o.DisableSFTP = append(o.DisableSFTP, ops...) }
}

// Stats is a snapshot of what the server saw.
type Stats struct {
	Accepted     int      // TCP connections accepted (including refused ones)
	Handshakes   int      // SSH handshakes that completed authentication
	Sessions     int      // "session" channels opened
	SFTPSessions int      // "sftp" subsystems started
	Forwards     int      // "direct-tcpip" channels opened
	SFTPRequests int      // SFTP requests answered (open, stat, list, rename…; not data packets)
	Execs        []string // commands run, in order
	Signals      []string // signals received from clients, e.g. "TERM"
	AuthMethods  []string // authentication methods attempted, e.g. "publickey"
}

// Server is a running test SSH server.
type Server struct {
	opts     Options
	ln       net.Listener
	hostKeys []ssh.Signer
	altKey   ssh.Signer

	clientKey     ssh.Signer
	clientKeyFile string
	encOnce       sync.Once
	encKeyFile    string
	encPassphrase []byte
	encErr        error
	ownDir        string

	authMu     sync.Mutex
	authorized map[string]bool

	refuse     atomic.Bool
	authRefuse atomic.Bool
	changeKey  atomic.Bool
	diskFull   atomic.Bool
	delay      atomic.Int64
	drop       atomic.Pointer[dropKnob]

	statsMu sync.Mutex
	stats   Stats

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	connMu sync.Mutex
	conns  map[net.Conn]struct{}

	closeOnce sync.Once
}

// dropKnob is a pointer so that setting it again restarts every session's
// byte count (each session compares pointers).
type dropKnob struct{ after int64 }

// NewServer starts a server for the duration of a test and stops it in
// t.Cleanup.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	s, err := Start(o)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Start starts a server outside of a test (for demos); call Close.
func Start(o Options) (*Server, error) {
	if len(o.HostKeyTypes) == 0 {
		o.HostKeyTypes = []string{"ed25519"}
	}
	if o.WorkDir == "" {
		o.WorkDir = o.Root
	}
	s := &Server{opts: o, authorized: map[string]bool{}, conns: map[net.Conn]struct{}{}}
	for _, typ := range o.HostKeyTypes {
		signer, _, err := generateKey(typ)
		if err != nil {
			return nil, fmt.Errorf("host key: %w", err)
		}
		s.hostKeys = append(s.hostKeys, signer)
	}
	var err error
	if s.altKey, _, err = generateKey("ed25519"); err != nil {
		return nil, fmt.Errorf("alternate host key: %w", err)
	}

	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "sshtest-"); err != nil {
			return nil, err
		}
		s.ownDir = o.Dir
		s.opts.Dir = o.Dir
	}
	var priv any
	s.clientKey, priv, err = generateKey("ed25519")
	if err != nil {
		return nil, err
	}
	s.clientKeyFile = filepath.Join(o.Dir, "id_ed25519")
	if err := writeKey(s.clientKeyFile, priv, nil); err != nil {
		return nil, err
	}
	s.Authorize(s.clientKey.PublicKey())

	if s.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Close stops the listener, ends every connection and waits for handlers.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.ln.Close()
		s.connMu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.connMu.Unlock()
		s.wg.Wait()
		if s.ownDir != "" {
			os.RemoveAll(s.ownDir)
		}
	})
	return nil
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is "127.0.0.1".
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// HostKey is the first served host key.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKeys[0].PublicKey() }

// HostKeys are all served host keys, in Options.HostKeyTypes order.
func (s *Server) HostKeys() []ssh.PublicKey {
	keys := make([]ssh.PublicKey, len(s.hostKeys))
	for i, k := range s.hostKeys {
		keys[i] = k.PublicKey()
	}
	return keys
}

// AltHostKey is the key served instead while ChangeHostKey is on.
func (s *Server) AltHostKey() ssh.PublicKey { return s.altKey.PublicKey() }

// AuthorizedKeyLine is HostKey in authorized_keys format, without newline.
func (s *Server) AuthorizedKeyLine() string {
	return string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(s.HostKey())))
}

// KnownHostsLine is a known_hosts line for HostKey ("[127.0.0.1]:port ...").
func (s *Server) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, s.HostKey())
}

// ClientKeyFile is an unencrypted OpenSSH private key the server accepts.
func (s *Server) ClientKeyFile() string { return s.clientKeyFile }

// ClientSigner is the key in ClientKeyFile.
func (s *Server) ClientSigner() ssh.Signer { return s.clientKey }

// EncryptedClientKey is a passphrase-protected private key file the server
// accepts, and its passphrase. It is made on first use: the key derivation
// is slow, more so under the race detector.
func (s *Server) EncryptedClientKey() (file string, passphrase []byte) {
	s.encOnce.Do(func() {
		signer, priv, err := generateKey("ed25519")
		if err != nil {
			s.encErr = err
			return
		}
		s.encPassphrase = []byte("pass-" + randomHex(8))
		s.encKeyFile = filepath.Join(s.opts.Dir, "id_ed25519_encrypted")
		if s.encErr = writeKey(s.encKeyFile, priv, s.encPassphrase); s.encErr == nil {
			s.Authorize(signer.PublicKey())
		}
	})
	if s.encErr != nil {
		panic("sshtest: encrypted client key: " + s.encErr.Error())
	}
	return s.encKeyFile, s.encPassphrase
}

// Authorize accepts key for public key authentication.
func (s *Server) Authorize(key ssh.PublicKey) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	s.authorized[string(key.Marshal())] = true
}

// Refuse closes new connections right after accept.
func (s *Server) Refuse(on bool) { s.refuse.Store(on) }

// AuthRefuse fails every authentication attempt.
func (s *Server) AuthRefuse(on bool) { s.authRefuse.Store(on) }

// ChangeHostKey serves AltHostKey instead of the configured host keys.
func (s *Server) ChangeHostKey(on bool) { s.changeKey.Store(on) }

// DiskFull makes every SFTP write fail with ENOSPC ("no space left on
// device"), as on a Manager whose disk is full.
func (s *Server) DiskFull(on bool) { s.diskFull.Store(on) }

// Delay sleeps d before each handshake and before each channel request reply.
func (s *Server) Delay(d time.Duration) { s.delay.Store(int64(d)) }

// DropAfterBytes makes each SFTP session drop its TCP connection once it has
// read n bytes from the client, counted from this call or the session's
// start, whichever is later. n <= 0 turns it off.
func (s *Server) DropAfterBytes(n int64) {
	if n <= 0 {
		s.drop.Store(nil)
		return
	}
	s.drop.Store(&dropKnob{after: n})
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := s.stats
	st.Execs = append([]string(nil), s.stats.Execs...)
	st.Signals = append([]string(nil), s.stats.Signals...)
	st.AuthMethods = append([]string(nil), s.stats.AuthMethods...)
	return st
}

func (s *Server) count(f func(*Stats)) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	f(&s.stats)
}

func (s *Server) sleep() {
	d := time.Duration(s.delay.Load())
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
	}
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.count(func(st *Stats) { st.Accepted++ })
		if s.refuse.Load() {
			conn.Close()
			continue
		}
		s.connMu.Lock()
		s.conns[conn] = struct{}{}
		s.connMu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.connMu.Lock()
				delete(s.conns, conn)
				s.connMu.Unlock()
				conn.Close()
			}()
			s.serveConn(conn)
		}()
	}
}

func (s *Server) serverConfig() *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if err := s.checkUser(meta); err != nil {
				return nil, err
			}
			s.authMu.Lock()
			ok := s.authorized[string(key.Marshal())]
			s.authMu.Unlock()
			if !ok {
				return nil, errors.New("key not authorized")
			}
			return nil, nil
		},
		AuthLogCallback: func(_ ssh.ConnMetadata, method string, _ error) {
			s.count(func(st *Stats) { st.AuthMethods = append(st.AuthMethods, method) })
		},
	}
	if s.opts.Password != "" {
		cfg.PasswordCallback = func(meta ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if err := s.checkUser(meta); err != nil {
				return nil, err
			}
			if string(pw) != s.opts.Password {
				return nil, errors.New("wrong password")
			}
			return nil, nil
		}
	}
	if s.changeKey.Load() {
		cfg.AddHostKey(s.altKey)
	} else {
		for _, k := range s.hostKeys {
			cfg.AddHostKey(k)
		}
	}
	return cfg
}

func (s *Server) checkUser(meta ssh.ConnMetadata) error {
	if s.authRefuse.Load() {
		return errors.New("authentication refused (sshtest AuthRefuse)")
	}
	if s.opts.User != "" && meta.User() != s.opts.User {
		return fmt.Errorf("unknown user %q", meta.User())
	}
	return nil
}

func (s *Server) serveConn(conn net.Conn) {
	s.sleep()
	sconn, chans, reqs, err := ssh.NewServerConn(conn, s.serverConfig())
	if err != nil {
		return
	}
	defer sconn.Close()
	s.count(func(st *Stats) { st.Handshakes++ })
	// Keepalives (keepalive@openssh.com) arrive here; replying false is
	// what OpenSSH does and is all a client needs to see the peer alive.
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			ch, reqs, err := nc.Accept()
			if err != nil {
				continue
			}
			s.count(func(st *Stats) { st.Sessions++ })
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serveSession(conn, ch, reqs)
			}()
		case "direct-tcpip":
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serveForward(nc)
			}()
		default:
			nc.Reject(ssh.UnknownChannelType, "unsupported channel type")
		}
	}
}

// serveForward implements ProxyJump's direct-tcpip, to loopback only so a
// test can never reach outside the machine.
func (s *Server) serveForward(nc ssh.NewChannel) {
	var msg struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &msg); err != nil {
		nc.Reject(ssh.ConnectionFailed, "bad direct-tcpip request")
		return
	}
	addr := net.JoinHostPort(msg.Host, strconv.Itoa(int(msg.Port)))
	if s.opts.Forward != nil {
		// The simulated host's own name resolution (its /etc/hosts).
		mapped, ok := s.opts.Forward(addr)
		if !ok {
			nc.Reject(ssh.ConnectionFailed, "connect to "+addr+": no such host")
			return
		}
		addr = mapped
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ip := net.ParseIP(host)
	if host == "localhost" {
		ip = net.IPv4(127, 0, 0, 1)
	}
	if ip == nil || !ip.IsLoopback() {
		nc.Reject(ssh.Prohibited, "sshtest forwards to loopback addresses only")
		return
	}
	var d net.Dialer
	target, err := d.DialContext(s.ctx, "tcp", net.JoinHostPort(ip.String(), port))
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		target.Close()
		return
	}
	s.count(func(st *Stats) { st.Forwards++ })
	go ssh.DiscardRequests(reqs)
	done := make(chan struct{}, 2)
	go func() { io.Copy(target, ch); target.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(ch, target); ch.CloseWrite(); done <- struct{}{} }()
	select {
	case <-done:
		<-done
	case <-s.ctx.Done():
	}
	ch.Close()
	target.Close()
}

func generateKey(typ string) (ssh.Signer, any, error) {
	var priv any
	var err error
	switch typ {
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, nil, fmt.Errorf("unknown key type %q", typ)
	}
	if err != nil {
		return nil, nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	return signer, priv, err
}

func writeKey(file string, priv any, passphrase []byte) error {
	var block *pem.Block
	var err error
	if passphrase != nil {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "sshtest", passphrase)
	} else {
		block, err = ssh.MarshalPrivateKey(priv, "sshtest")
	}
	if err != nil {
		return fmt.Errorf("marshal client key: %w", err)
	}
	return os.WriteFile(file, pem.EncodeToMemory(block), 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
