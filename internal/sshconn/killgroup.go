package sshconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Cancelling a remote command.
//
// The SSH "signal" request is not enough: OpenSSH refuses it for root
// logins ("session_signalling requires privilege separation"), and even
// when it is honoured it reaches the shell only, not the shell's children.
// So Run prefixes every command with pidWrapper, which makes the remote
// shell report $$ on stderr. sshd runs each exec'd command as `$SHELL -c
// CMD` after setsid(), so $$ is both the process group id and the session
// id of everything the command starts. On cancellation Run opens a second
// session on the same connection (or a new connection, if the server
// refuses more sessions) and runs killScript, which sends TERM to that
// process group and session, then KILL to whatever is left after a grace
// period.

// pidMarker starts the line the wrapper writes on stderr. The leading
// ASCII RS control character keeps it from colliding with real output.
const pidMarker = "\x1esmcfleet-pid="

// pidWrapper is prepended to every command unless Config.NoPIDWrapper is
// set. It ends with "; " rather than a newline so the user's command keeps
// its line numbers ("sh: 1: foo: not found"); comments, heredocs and
// compound commands may all follow a ";".
const pidWrapper = `printf '\036smcfleet-pid=%s\n' "$$" >&2; `

// pidScanLimit is how many bytes of stderr may come before the marker line
// (a login shell's startup files, such as bash's .bashrc, may write some)
// before Run stops looking for it.
const pidScanLimit = 4096

const (
	// killGrace is how long killScript waits after TERM before KILL.
	killGrace = time.Second
	// killTimeout bounds the whole kill, from opening its session (or
	// redialling) to the script's end, so a cancelled Run returns promptly.
	killTimeout = 5 * time.Second
)

// WrapCommand returns cmd as Run sends it when Config.NoPIDWrapper is
// false: prefixed with a shell command reporting the remote shell's PID.
func WrapCommand(cmd string) string { return pidWrapper + cmd }

// UnwrapCommand returns the command a user passed to Run, given the command
// text an SSH server received. Text without the wrapper is returned as is.
// Test servers and simulators that interpret commands should use it.
func UnwrapCommand(s string) string { return strings.TrimPrefix(s, pidWrapper) }

// killScript ends the process group and session pid, TERM first and KILL
// after killGrace if anything is left. It uses only POSIX sh features
// (dash's kill builtin needs the "-s SIG --" form for a negative pid);
// pkill/pgrep -s, where installed, also reach processes that moved to
// process groups of their own inside the session (job-control shells,
// `timeout`).
// It exits at once if the group and session are already gone.
func killScript(pid int) string {
	tenths := int(killGrace / (100 * time.Millisecond))
	return fmt.Sprintf(`p=%d
smcfleet_alive() { kill -s 0 -- -$p 2>/dev/null || pgrep -s $p >/dev/null 2>&1; }
smcfleet_kill() { kill -s $1 -- -$p 2>/dev/null; pkill -$1 -s $p >/dev/null 2>&1; }
smcfleet_alive || exit 0
smcfleet_kill TERM
i=0
while [ $i -lt %d ] && smcfleet_alive; do sleep 0.1 2>/dev/null || { sleep 1; i=%d; }; i=$((i+1)); done
if smcfleet_alive; then smcfleet_kill KILL; fi
exit 0
`, pid, tenths, tenths)
}

// killRemoteGroup runs killScript(pid) in a new session on c's connection,
// or on a new connection if the server refuses another session. The
// returned channel is closed when the script has ended or killTimeout
// has passed, whichever comes first.
func (c *Client) killRemoteGroup(pid int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
		defer cancel()
		sess, err := c.newSession(ctx)
		var refused *ssh.OpenChannelError
		if errors.As(err, &refused) {
			// The server is at its session limit (OpenSSH's MaxSessions,
			// per connection), and the cancelled session keeps its slot
			// until its command ends: kill from a connection of our own.
			nc, derr := Dial(ctx, c.cfg)
			if derr != nil {
				return
			}
			defer func() {
				nc.Close()
				c.dials.Add(nc.dials.Load())
				c.sessions.Add(nc.sessions.Load())
			}()
			sess, err = nc.newSession(ctx)
		}
		if err != nil {
			return
		}
		defer sess.Close()
		ran := make(chan struct{})
		go func() {
			sess.Run(killScript(pid)) // best effort: nothing to do on failure
			close(ran)
		}()
		select {
		case <-ran:
		case <-ctx.Done():
		}
	}()
	return done
}

// pidFilter sits in front of a command's stderr buffer. It removes the
// first line that is exactly a pid marker, if that line comes within the
// first pidScanLimit bytes, and records the PID; every other byte passes
// through unchanged and in order.
type pidFilter struct {
	dst   *cappedBuffer
	found chan struct{} // closed once pid is set

	mu      sync.Mutex
	pid     int
	done    bool   // marker found, or given up: pass everything through
	held    []byte // start of the current line, while it may be a marker
	midLine bool   // inside a line that is not a marker
	scanned int    // bytes passed through while scanning
}

func newPIDFilter(dst *cappedBuffer) *pidFilter {
	return &pidFilter{dst: dst, found: make(chan struct{})}
}

// PID returns the remote shell's PID, once the marker line has been seen.
func (f *pidFilter) PID() (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pid, f.pid != 0
}

func (f *pidFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(p)
	for len(p) > 0 && !f.done {
		if f.midLine {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				f.pass(p)
				return n, nil
			}
			f.pass(p[:i+1])
			p = p[i+1:]
			f.midLine = false
			continue
		}
		// At a line start, holding what may be the start of the marker.
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		f.held = append(f.held, chunk...)
		p = p[len(chunk):]
		if !maybeMarker(f.held) {
			f.pass(f.held)
			f.held = nil
			f.midLine = true
			continue
		}
		if i < 0 {
			return n, nil // wait for the rest of the line
		}
		p = p[1:] // the newline
		if pid, ok := parseMarker(f.held); ok {
			f.pid = pid
			f.done = true
			f.held = nil
			close(f.found)
			break
		}
		f.pass(append(f.held, '\n'))
		f.held = nil
	}
	if len(p) > 0 {
		f.dst.Write(p)
	}
	return n, nil
}

// pass writes scanned bytes through and gives up on the marker after
// pidScanLimit bytes; called with f.mu held.
func (f *pidFilter) pass(p []byte) {
	f.dst.Write(p)
	if f.scanned += len(p); f.scanned >= pidScanLimit {
		f.done = true
	}
}

// flush passes through a held partial line; later writes pass through.
func (f *pidFilter) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.held) > 0 {
		f.dst.Write(f.held)
		f.held = nil
	}
	f.done = true
}

// maybeMarker reports whether b can be the start of a marker line (without
// its newline): a prefix of pidMarker, or pidMarker and up to 10 digits.
func maybeMarker(b []byte) bool {
	if len(b) <= len(pidMarker) {
		return pidMarker[:len(b)] == string(b)
	}
	if string(b[:len(pidMarker)]) != pidMarker || len(b) > len(pidMarker)+10 {
		return false
	}
	for _, c := range b[len(pidMarker):] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseMarker returns the PID of a complete marker line. PIDs 0 and 1
// are refused: "kill -- -0" and "kill -- -1" would hit far more than the
// command.
func parseMarker(b []byte) (int, bool) {
	if !maybeMarker(b) || len(b) == len(pidMarker) {
		return 0, false
	}
	pid, err := strconv.Atoi(string(b[len(pidMarker):]))
	if err != nil || pid <= 1 || pid > 1<<31-1 {
		return 0, false
	}
	return pid, true
}
