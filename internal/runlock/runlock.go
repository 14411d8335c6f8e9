// Package runlock keeps two smcfleet runs from working on a fleet at once
// (a cron job that starts while the previous one, or a person's apply, is
// still going).
//
// The lock is an exclusive flock(2) on a file, taken without waiting. The
// kernel releases it when the process ends, however it ends, so a file left
// behind by a crash never blocks a later run: only a live holder does. The
// file's content (pid, start time, command) is for people: it says who
// holds the lock.
package runlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Lock is a held run lock.
type Lock struct {
	f    *os.File
	path string
}

// HeldError is returned by Acquire when another process holds the lock.
type HeldError struct {
	Path string
	// Holder is what the holder wrote into the file ("pid=… started=…
	// cmd=…"), or "" if it has not written it yet.
	Holder string
}

func (e *HeldError) Error() string {
	who := "holder unknown: it has not written its pid yet"
	if e.Holder != "" {
		who = e.Holder
	}
	return fmt.Sprintf("another smcfleet run holds the lock %s (%s); wait for it, "+
		"or remove the file if no such process exists — a stale file alone does not block: "+
		"the lock is the flock, released when the process dies", e.Path, who)
}

// ErrUnsupported is returned on systems without flock.
var ErrUnsupported = errors.New("run lock: not supported on this system")

// Acquire takes the lock at path without waiting, creating its directory
// (0700) and the file (0600) as needed, and records this process in it.
// If another process holds it, the error is a *HeldError.
func Acquire(path string) (*Lock, error) {
	if path == "" {
		return nil, errors.New("run lock: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	// No O_TRUNC: the holder's record must survive until we own the lock.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("run lock %s: %w", path, err)
	}
	if held {
		b := make([]byte, 4096)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		return nil, &HeldError{Path: path, Holder: strings.TrimSpace(string(b[:n]))}
	}
	rec := fmt.Sprintf("pid=%d started=%s cmd=%s\n", os.Getpid(), time.Now().Format(time.RFC3339), CommandLine(os.Args))
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(rec), 0)
	}
	if err != nil {
		unlock(f)
		f.Close()
		return nil, fmt.Errorf("run lock %s: %w", path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// Path is the lock file.
func (l *Lock) Path() string { return l.path }

// Release gives the lock up. The file stays (removing it would let a
// process that opened it just before wait on a lock nobody else can see);
// its record is cleared. Release on nil or twice does nothing.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// DefaultPath is where the lock lives when no path is given:
// $XDG_RUNTIME_DIR/smcfleet/run.lock, else ~/.cache/smcfleet/run.lock;
// for root /run/lock/smcfleet.lock.
func DefaultPath() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = ""
	}
	// Not $XDG_RUNTIME_DIR: cron has none, and an interactive run and a
	// cron run of the same user must take the same lock.
	return defaultPath(os.Geteuid(), "", home)
}

func defaultPath(euid int, xdgRuntime, home string) string {
	switch {
	case euid == 0:
		return "/run/lock/smcfleet.lock"
	case xdgRuntime != "":
		return filepath.Join(xdgRuntime, "smcfleet", "run.lock")
	case home != "":
		return filepath.Join(home, ".cache", "smcfleet", "run.lock")
	default:
		return filepath.Join(os.TempDir(), fmt.Sprintf("smcfleet-%d", euid), "run.lock")
	}
}

// CommandLine renders a command line for records and logs, with the value
// of every --var NAME=VALUE replaced by "(redacted)": a variable given on
// the command line may be a secret, and these records are read by people.
func CommandLine(args []string) string {
	out := make([]string, 0, len(args))
	redactNext := false
	for i, a := range args {
		if i == 0 {
			a = filepath.Base(a)
		}
		switch {
		case redactNext:
			a = redactVar(a)
			redactNext = false
		case a == "--var" || a == "-var":
			redactNext = true
		case strings.HasPrefix(a, "--var=") || strings.HasPrefix(a, "-var="):
			flag, v, _ := strings.Cut(a, "=")
			a = flag + "=" + redactVar(v)
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

func redactVar(kv string) string {
	name, _, ok := strings.Cut(kv, "=")
	if !ok {
		return "(redacted)"
	}
	return name + "=(redacted)"
}
