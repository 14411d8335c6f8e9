package main

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8"

	"github.com/smcfleet/smcfleet/runner"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls buf until re matches (mpb renders on its own ticker).
func waitFor(t *testing.T, buf *syncBuffer, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if rx.MatchString(buf.String()) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("output never matched %q:\n%s", re, buf.String())
}

func TestProgressCounts(t *testing.T) {
	var buf syncBuffer
	pr := newProgressWith(&buf, 3, false,
		mpb.WithOutput(&buf), mpb.WithWidth(120), mpb.WithAutoRefresh(), mpb.WithRefreshRate(5*time.Millisecond))
	p := runner.NewPrinter(pr.Writer(), runner.ModeApply, false, "a", "b", "c")
	pr.Wrap(p)
	pr.SetBatch(1, 2)

	waitFor(t, &buf, `batch 1/2  0/3 hosts  changed 0  failed 0  remaining 3 .*ETA \?`)

	pr.HostStarted("a")
	pr.StepFinished("a", &runner.StepResult{Address: "file.x", Kind: "file", Name: "x", Status: runner.StepChanged})
	pr.HostFinished(&runner.HostResult{Name: "a", Status: runner.HostChanged})
	waitFor(t, &buf, `(?m)^a  .*file\.x`) // the printer's line, above the bar
	waitFor(t, &buf, `batch 1/2  1/3 hosts  changed 1  failed 0  remaining 2`)

	pr.SetBatch(2, 2)
	pr.HostStarted("b")
	pr.HostFinished(&runner.HostResult{Name: "b", Status: runner.HostUnreachable, Error: "connection refused"})
	waitFor(t, &buf, `b  unreachable: connection refused`)
	waitFor(t, &buf, `batch 2/2  2/3 hosts  changed 1  failed 1  remaining 1`)

	pr.HostStarted("c")
	pr.HostFinished(&runner.HostResult{Name: "c", Status: runner.HostOK})
	pr.Close()
	pr.Close() // twice is fine
	out := buf.String()
	if !strings.Contains(out, "batch 2/2  3/3 hosts  changed 1  failed 1  remaining 0") {
		t.Errorf("final counts missing:\n%s", out)
	}
	// After Close, writes go straight through.
	p.Recap(&runner.Report{Kind: runner.ModeApply})
	if after := buf.String(); len(after) <= len(out) {
		t.Errorf("the recap after Close was not written")
	}
}

// An interrupted run: Close with hosts outstanding returns and keeps the
// bar where it stopped.
func TestProgressCloseEarly(t *testing.T) {
	var buf syncBuffer
	pr := newProgressWith(&buf, 5, false,
		mpb.WithOutput(&buf), mpb.WithWidth(120), mpb.WithAutoRefresh(), mpb.WithRefreshRate(5*time.Millisecond))
	pr.HostFinished(&runner.HostResult{Name: "a", Status: runner.HostChanged})
	done := make(chan struct{})
	go func() { pr.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung")
	}
	if !strings.Contains(buf.String(), "1/5 hosts  changed 1  failed 0  remaining 4") {
		t.Errorf("output:\n%s", buf.String())
	}
}

// Not a terminal: no bar, the writer is the output itself.
func TestProgressNotTerminal(t *testing.T) {
	var buf bytes.Buffer
	pr := newProgress(&buf, 2)
	pr.Writer().Write([]byte("line\n"))
	pr.HostFinished(&runner.HostResult{Name: "a", Status: runner.HostOK})
	pr.SetBatch(1, 1)
	pr.Close()
	if buf.String() != "line\n" {
		t.Errorf("got %q", buf.String())
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1400 * time.Millisecond:         "1s",
		65 * time.Second:                "1m05s",
		time.Hour + 2*time.Minute + 3e9: "1h02m",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("%v: got %s, want %s", d, got, want)
		}
	}
}
