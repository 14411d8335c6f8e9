// Package sshconn is the SSH transport: one SSH connection per host (through
// ProxyJump hops if configured), carrying exec sessions and one lazily
// opened SFTP client. Host keys are verified the OpenSSH way, against
// known_hosts and/or pinned keys; cancellation reaches the wire.
package sshconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/smcfleet/smcfleet/internal/remote"
)

// MaxOutput caps the captured stdout and stderr of one command each.
const MaxOutput = 16 << 20

// Client is one SSH connection to a host.
type Client struct {
	cfg  Config
	ssh  *ssh.Client
	hops []*ssh.Client // jump hops, first hop first

	closeOnce sync.Once
	closed    chan struct{}

	sftpMu sync.Mutex
	sftp   *sftp.Client

	dials, sessions, sftpSessions, sftpOps atomic.Int64
}

// Stats counts what a Client did, for tests and benchmarks.
type Stats struct {
	Connections  int // SSH connections made, jump hops included
	Sessions     int // SSH sessions opened (commands and SFTP)
	SFTPSessions int // SFTP subsystems started
	SFTPOps      int // file operations (Stat, WriteFile, ...)
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	return Stats{
		Connections:  int(c.dials.Load()),
		Sessions:     int(c.sessions.Load()),
		SFTPSessions: int(c.sftpSessions.Load()),
		SFTPOps:      int(c.sftpOps.Load()),
	}
}

// Dial connects to cfg's host through its jump hops, verifying every hop's
// host key and authenticating to each with its own settings.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	hops := append(append([]Config(nil), cfg.Jump...), cfg)
	c := &Client{cfg: cfg, closed: make(chan struct{})}
	var prev *ssh.Client
	for i := range hops {
		hop := &hops[i]
		sc, err := c.dialHop(ctx, prev, hop)
		if err != nil {
			for _, h := range c.hops {
				h.Close()
			}
			if i < len(hops)-1 {
				return nil, fmt.Errorf("%s: via jump host %s: %w", cfg.label(), hop.label(), err)
			}
			return nil, fmt.Errorf("%s: %w", cfg.label(), err)
		}
		if i < len(hops)-1 {
			c.hops = append(c.hops, sc)
		} else {
			c.ssh = sc
		}
		prev = sc
	}
	interval := cfg.KeepAliveInterval
	if interval == 0 {
		interval = defaultKeepAlive
	}
	if interval > 0 {
		go c.keepalive(interval)
	}
	return c, nil
}

func (c *Client) dialHop(ctx context.Context, via *ssh.Client, hop *Config) (*ssh.Client, error) {
	if err := hop.validate(); err != nil {
		return nil, err
	}
	hk, err := newHostKeyChecker(hop)
	if err != nil {
		return nil, err
	}
	methods, closeAgent, err := hop.authMethods()
	if err != nil {
		return nil, err
	}
	defer closeAgent()
	ccfg := &ssh.ClientConfig{
		User:              hop.User,
		Auth:              methods,
		HostKeyCallback:   hk.callback,
		HostKeyAlgorithms: hk.algorithms(),
	}

	ctx, cancel := context.WithTimeout(ctx, hop.connectTimeout())
	defer cancel()
	addr := hop.addr()
	var conn net.Conn
	if via == nil {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
	} else {
		conn, err = via.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, dialError(ctx, addr, err)
	}
	// The handshake has no context: closing the connection is what
	// interrupts it (a deadline would not work on a jump channel).
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sconn, chans, reqs, err := ssh.NewClientConn(conn, addr, ccfg)
	if !stop() {
		if err == nil {
			sconn.Close()
		}
		return nil, dialError(ctx, addr, ctx.Err())
	}
	if err != nil {
		conn.Close()
		return nil, handshakeError(addr, hop, err)
	}
	c.dials.Add(1)
	return ssh.NewClient(sconn, chans, reqs), nil
}

func dialError(ctx context.Context, addr string, err error) error {
	var errno syscall.Errno
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("connect %s: timed out (check the address and firewall, or raise the connect timeout): %w", addr, err)
	case ctx.Err() != nil:
		return fmt.Errorf("connect %s: %w", addr, ctx.Err())
	case errors.As(err, &errno) && errno == syscall.ECONNREFUSED:
		return fmt.Errorf("connect %s: connection refused (is sshd running on that port?): %w", addr, err)
	}
	return fmt.Errorf("connect %s: %w", addr, err)
}

func handshakeError(addr string, hop *Config, err error) error {
	var hke *HostKeyError
	if errors.As(err, &hke) {
		return hke
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unable to authenticate"):
		return fmt.Errorf("ssh %s: authentication as %q failed (check the user, the identity files "+
			"and that the public key is in the server's authorized_keys): %w", addr, hop.User, err)
	case errors.Is(err, io.EOF), strings.Contains(msg, "connection reset"):
		return fmt.Errorf("ssh %s: the server closed the connection during the handshake "+
			"(sshd MaxStartups, a TCP wrapper or a firewall?): %w", addr, err)
	}
	return fmt.Errorf("ssh %s: handshake: %w", addr, err)
}

// keepalive closes the connection after three unanswered keepalives, so a
// dead peer fails pending calls instead of hanging them.
func (c *Client) keepalive(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	replied := make(chan error, 1)
	inflight, missed := false, 0
	for {
		select {
		case <-c.closed:
			return
		case err := <-replied:
			inflight = false
			if err != nil {
				return // connection gone; calls see their own errors
			}
			missed = 0
		case <-t.C:
			if inflight {
				if missed++; missed >= 3 {
					c.closeConns()
					return
				}
				continue
			}
			inflight = true
			go func() {
				_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
				replied <- err
			}()
		}
	}
}

// Close ends the SFTP client and the connection, then the jump hops.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		c.sftpMu.Lock()
		if c.sftp != nil {
			c.sftp.Close()
			c.sftp = nil
		}
		c.sftpMu.Unlock()
		err = c.closeConns()
	})
	return err
}

func (c *Client) closeConns() error {
	err := c.ssh.Close()
	for i := len(c.hops) - 1; i >= 0; i-- {
		c.hops[i].Close()
	}
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (c *Client) newSession(ctx context.Context) (*ssh.Session, error) {
	type result struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := c.ssh.NewSession()
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("open session: %w", r.err)
		}
		c.sessions.Add(1)
		return r.s, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// cappedBuffer keeps the first max bytes and counts the rest, so a chatty
// command cannot exhaust memory; it never blocks the remote writer.
type cappedBuffer struct {
	mu      sync.Mutex
	buf     []byte
	dropped int64
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := MaxOutput - len(b.buf)
	if room >= len(p) {
		b.buf = append(b.buf, p...)
	} else {
		b.buf = append(b.buf, p[:max(room, 0)]...)
		b.dropped += int64(len(p) - max(room, 0))
	}
	return len(p), nil
}

func (b *cappedBuffer) bytes(stream string) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := append([]byte(nil), b.buf...)
	if b.dropped > 0 {
		out = fmt.Appendf(out, "\n[smcfleet: %s truncated at %d bytes, %d bytes dropped]\n", stream, MaxOutput, b.dropped)
	}
	return out
}

// cancelGrace is how long a cancelled Run waits for the remote command to
// die of SIGTERM, to report the signal, before closing the session.
const cancelGrace = time.Second

// Run runs cmd in a new session. A non-zero exit status is returned as
// data; an error means the command's outcome is unknown.
//
// A cancelled ctx sends SIGTERM to the remote command and closes the
// session. Unless Config.NoPIDWrapper is set, it also kills the command's
// whole process group and session from a second session (TERM, then KILL
// after a grace period): sshd ignores "signal" requests for root logins,
// and delivers them to the shell only otherwise. Run returns once that is
// done, or after at most about cancelGrace plus killTimeout.
func (c *Client) Run(ctx context.Context, cmd string, stdin io.Reader) (remote.CmdResult, error) {
	if c.cfg.CommandTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.CommandTimeout)
		defer cancel()
	}
	sess, err := c.newSession(ctx)
	if err != nil {
		return remote.CmdResult{}, fmt.Errorf("run on %s: %w", c.cfg.label(), err)
	}
	defer sess.Close()
	var stdout, stderr cappedBuffer
	sess.Stdin = stdin
	sess.Stdout = &stdout
	sess.Stderr = &stderr
	var filter *pidFilter
	var pidKnown <-chan struct{} // nil, so never ready, without the wrapper
	if !c.cfg.NoPIDWrapper {
		filter = newPIDFilter(&stderr)
		sess.Stderr = filter
		pidKnown = filter.found
		cmd = WrapCommand(cmd)
	}
	done := make(chan error, 1)
	go func() {
		err := sess.Start(cmd)
		if err == nil {
			err = sess.Wait()
		}
		done <- err
	}()

	var cancelled error
	select {
	case err = <-done:
	case <-ctx.Done():
		// A command that has just ended is not cancelled: killing its
		// process group could hit what it deliberately left running.
		select {
		case err = <-done:
		default:
			cancelled = ctx.Err()
			err = c.cancelRun(sess, done, pidKnown, filter, cancelled)
		}
	}
	if filter != nil {
		filter.flush()
	}

	res := remote.CmdResult{Stdout: stdout.bytes("stdout"), Stderr: stderr.bytes("stderr")}
	var exitErr *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitStatus()
		if sig := exitErr.Signal(); sig != "" {
			res.ExitCode, res.Signal = -1, sig
		}
		err = nil
	case errors.As(err, &missing):
		err = fmt.Errorf("run on %s: the command ended without an exit status (connection lost?): %w", c.cfg.label(), err)
	default:
		err = fmt.Errorf("run on %s: %w", c.cfg.label(), err)
	}
	if cancelled != nil {
		return res, fmt.Errorf("run on %s: %w", c.cfg.label(), cancelled)
	}
	return res, err
}

// cancelRun stops the command of a Run whose ctx is done: SIGTERM through
// the session, the process group killed from another session as soon as
// its PID is known, and the session closed after cancelGrace at most. It
// returns the command's own ending if that came within the grace period,
// else cancelled (ctx's error), and waits for the kill session to end.
func (c *Client) cancelRun(sess *ssh.Session, done <-chan error, pidKnown <-chan struct{}, filter *pidFilter, cancelled error) error {
	sess.Signal(ssh.SIGTERM)
	var killed <-chan struct{}
	kill := func() {
		if killed != nil || filter == nil {
			return
		}
		if pid, ok := filter.PID(); ok {
			killed = c.killRemoteGroup(pid)
		}
	}
	kill()
	grace := time.NewTimer(cancelGrace)
	defer grace.Stop()
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-grace.C:
			err = cancelled
			break wait
		case <-pidKnown:
			pidKnown = nil
			kill()
		}
	}
	sess.Close()
	kill() // the marker may have come with the command's last output
	if killed != nil {
		// killRemoteGroup bounds itself by killTimeout, except for what
		// takes no context (a PassphraseFunc when it must redial).
		t := time.NewTimer(killTimeout)
		select {
		case <-killed:
		case <-t.C:
		}
		t.Stop()
	}
	return err
}
