package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/smcfleet/smcfleet/internal/runlock"
)

// exitLocked is the exit code when another run holds the run lock
// (--lock-file): EX_TEMPFAIL from sysexits.h, "try again later". A cron job
// that finds the previous run still going exits with it and changes nothing.
const exitLocked = 75

// openRunLog opens path for --log: append-only (0600, its directory created
// 0700 if missing), one block per run that starts with
// "== smcfleet <args> <time> ==". What is written to it loses its ANSI
// colour codes. The returned func closes the file and reports the first
// write error. The text is what the printers print: the runner has already
// redacted secrets, and the header redacts --var values.
func openRunLog(path string) (io.Writer, func() error, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	l := &runLog{f: f}
	args := runlock.CommandLine(os.Args)
	if _, err := fmt.Fprintf(f, "== %s %s ==\n", args, time.Now().Format(time.RFC3339)); err != nil {
		f.Close()
		return nil, nil, err
	}
	return l, l.close, nil
}

// runLog is the --log file: it strips ANSI escape sequences (even split
// across writes) and remembers the first error instead of failing the
// run's output.
type runLog struct {
	mu    sync.Mutex
	f     *os.File
	state ansiState
	err   error
	// partial: the last byte written was not a newline.
	partial bool
}

func (l *runLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil || l.f == nil {
		return len(p), nil
	}
	out := l.state.strip(p)
	if len(out) > 0 {
		l.partial = out[len(out)-1] != '\n'
		if _, err := l.f.Write(out); err != nil {
			l.err = err
		}
	}
	return len(p), nil
}

func (l *runLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return l.err
	}
	if l.partial && l.err == nil {
		// The next run's header starts on a line of its own.
		_, l.err = l.f.Write([]byte("\n"))
	}
	err := l.f.Close()
	l.f = nil
	if l.err != nil {
		return l.err
	}
	return err
}

// ansiState strips ESC sequences: CSI (ESC [ params final), OSC (ESC ] …
// BEL or ESC \) and two-byte ESC x, keeping its place between writes.
type ansiState int

const (
	ansiText   ansiState = iota
	ansiEsc              // after ESC
	ansiCSI              // inside ESC [
	ansiOSC              // inside ESC ]
	ansiOSCEsc           // ESC inside OSC
)

func (s *ansiState) strip(p []byte) []byte {
	out := make([]byte, 0, len(p))
	for _, c := range p {
		switch *s {
		case ansiText:
			if c == 0x1b {
				*s = ansiEsc
			} else {
				out = append(out, c)
			}
		case ansiEsc:
			switch c {
			case '[':
				*s = ansiCSI
			case ']':
				*s = ansiOSC
			default:
				*s = ansiText
			}
		case ansiCSI:
			if c >= 0x40 && c <= 0x7e {
				*s = ansiText
			}
		case ansiOSC:
			if c == 0x07 {
				*s = ansiText
			} else if c == 0x1b {
				*s = ansiOSCEsc
			}
		case ansiOSCEsc:
			*s = ansiText
		}
	}
	return out
}

// teeWriter writes to w and to log (the --log file); a nil log returns w.
// A failing log never fails the output: openRunLog's close reports it.
func teeWriter(w io.Writer, log io.Writer) io.Writer {
	if log == nil {
		return w
	}
	return &tee{w: w, log: log}
}

type tee struct{ w, log io.Writer }

func (t *tee) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.log.Write(p)
	return n, err
}
