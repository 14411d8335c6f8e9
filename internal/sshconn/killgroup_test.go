package sshconn

import (
	"strings"
	"testing"
)

func TestPIDFilter(t *testing.T) {
	const m = pidMarker
	tests := []struct {
		name, in, out string
		pid           int
	}{
		{"marker only", m + "4242\n", "", 4242},
		{"marker then output", m + "4242\nerr\nmore", "err\nmore", 4242},
		{"no marker", "err\n", "", 0},
		{"empty", "", "", 0},
		{"text before, no newline", "x: no newline", "x: no newline", 0},
		{"startup noise before marker", "stty: not a tty\n" + m + "77\nerr\n", "stty: not a tty\nerr\n", 77},
		{"only the first marker is ours", m + "5\n" + m + "6\n", m + "6\n", 5},
		{"marker not at line start", "x" + m + "5\nerr\n", "x" + m + "5\nerr\n", 0},
		{"marker with trailing text", m + "5 x\nerr\n", m + "5 x\nerr\n", 0},
		{"marker without digits", m + "\nerr\n", m + "\nerr\n", 0},
		{"marker without newline", m + "5", m + "5", 0},
		{"partial marker at end", "\x1esmc", "\x1esmc", 0},
		{"pid 1 refused", m + "1\n", m + "1\n", 0},
		{"pid 0 refused", m + "0\n", m + "0\n", 0},
		{"pid too long", m + "12345678901\n", m + "12345678901\n", 0},
		{"too late", strings.Repeat("x\n", pidScanLimit/2) + m + "5\n", strings.Repeat("x\n", pidScanLimit/2) + m + "5\n", 0},
	}
	for _, tt := range tests {
		// Whole, then byte by byte: the result must not depend on how
		// the stream is split into writes.
		for _, split := range []bool{false, true} {
			var buf cappedBuffer
			f := newPIDFilter(&buf)
			if tt.out == "" && tt.pid == 0 {
				tt.out = tt.in
			}
			if split {
				for i := range len(tt.in) {
					f.Write([]byte{tt.in[i]})
				}
			} else {
				f.Write([]byte(tt.in))
			}
			f.flush()
			f.Write([]byte("!")) // after flush, everything passes
			got := string(buf.bytes("stderr"))
			pid, ok := f.PID()
			if got != tt.out+"!" || pid != tt.pid || ok != (tt.pid != 0) {
				t.Errorf("%s (split %v): out %q pid %d %v, want %q pid %d", tt.name, split, got, pid, ok, tt.out+"!", tt.pid)
			}
			select {
			case <-f.found:
				if tt.pid == 0 {
					t.Errorf("%s: found closed without a PID", tt.name)
				}
			default:
				if tt.pid != 0 {
					t.Errorf("%s: found not closed", tt.name)
				}
			}
		}
	}
}

func TestWrapCommand(t *testing.T) {
	for _, cmd := range []string{"", "echo hi", "# comment\ncat <<EOF\nx\nEOF\n"} {
		w := WrapCommand(cmd)
		if !strings.HasPrefix(w, `printf '\036smcfleet-pid=%s\n' "$$" >&2; `) || UnwrapCommand(w) != cmd {
			t.Errorf("WrapCommand(%q) = %q, unwrapped %q", cmd, w, UnwrapCommand(w))
		}
	}
	if got := UnwrapCommand("echo hi"); got != "echo hi" {
		t.Errorf("UnwrapCommand of a plain command = %q", got)
	}
}

func TestKillScript(t *testing.T) {
	s := killScript(4242)
	for _, want := range []string{"p=4242\n", "kill -s 0 -- -$p", "kill -s $1 -- -$p", "smcfleet_kill TERM", "smcfleet_kill KILL"} {
		if !strings.Contains(s, want) {
			t.Errorf("killScript lacks %q:\n%s", want, s)
		}
	}
}
