package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/smcfleet/smcfleet/runner"
)

// progress is a runner.Observer for terminals: one bar for the fleet at
// the bottom of the screen (hosts done/total, changed, failed, remaining,
// the current batch, elapsed time and ETA), with the text printer's lines
// scrolling above it. Give the wrapped printer Writer() as its output, so
// its lines go above the bar; after Close, Writer() writes straight
// through (for the recap).
//
//	prog := newProgress(s.out, len(targets))
//	p := runner.NewPrinter(prog.Writer(), mode, color, names...)
//	prog.Wrap(p)
//	opts.Observer = prog
//	rep := runner.Run(ctx, opts)
//	prog.Close()
//	p.Recap(rep)
type progress struct {
	out   io.Writer
	inner runner.Observer
	p     *mpb.Progress
	bar   *mpb.Bar
	start time.Time
	// direct: the bar is not drawn (not a terminal); writes go to out.
	direct bool

	mu                           sync.Mutex
	total, done, changed, failed int
	running                      int
	batch, batches               int
	closed                       bool
}

// newProgress draws the bar on w if w is a terminal. On anything else it
// draws nothing, and Writer() is w itself: the caller should not use a
// progress there, but nothing is lost if it does.
func newProgress(w io.Writer, total int) *progress {
	if !isTerminal(w) {
		return newProgressWith(w, total, true)
	}
	return newProgressWith(w, total, false, mpb.WithOutput(w))
}

// newProgressWith is newProgress with mpb options (tests force output to a
// buffer with mpb.WithAutoRefresh and mpb.WithWidth).
func newProgressWith(w io.Writer, total int, direct bool, opts ...mpb.ContainerOption) *progress {
	pr := &progress{out: w, total: total, start: time.Now(), direct: direct}
	if direct {
		return pr
	}
	pr.p = mpb.New(append([]mpb.ContainerOption{mpb.WithWidth(100)}, opts...)...)
	pr.bar = pr.p.New(int64(max(total, 1)),
		mpb.BarStyle().Lbound("[").Filler("=").Tip(">").Padding(" ").Rbound("]"),
		mpb.PrependDecorators(
			decor.Any(func(decor.Statistics) string { return pr.counts() }, decor.WCSyncSpaceR),
		),
		mpb.AppendDecorators(
			decor.Any(func(decor.Statistics) string { return pr.times() }),
		),
	)
	return pr
}

// Wrap makes o (the text printer) hear every event first.
func (pr *progress) Wrap(o runner.Observer) { pr.inner = o }

// Writer prints above the bar while it is shown, and to the output after
// Close.
func (pr *progress) Writer() io.Writer { return progressWriter{pr} }

type progressWriter struct{ pr *progress }

func (w progressWriter) Write(b []byte) (int, error) {
	pr := w.pr
	pr.mu.Lock()
	drawn := !pr.direct && !pr.closed
	pr.mu.Unlock()
	if drawn {
		if n, err := pr.p.Write(b); err == nil {
			return n, nil
		}
		// The container has shut down (Close raced this write): fall through.
	}
	return pr.out.Write(b)
}

// SetBatch shows "batch i/n" (n = 0 hides it).
func (pr *progress) SetBatch(i, n int) {
	pr.mu.Lock()
	pr.batch, pr.batches = i, n
	pr.mu.Unlock()
}

// HostStarted implements runner.Observer.
func (pr *progress) HostStarted(host string) {
	if pr.inner != nil {
		pr.inner.HostStarted(host)
	}
	pr.mu.Lock()
	pr.running++
	pr.mu.Unlock()
}

// StepFinished implements runner.Observer.
func (pr *progress) StepFinished(host string, r *runner.StepResult) {
	if pr.inner != nil {
		pr.inner.StepFinished(host, r)
	}
}

// HostFinished implements runner.Observer.
func (pr *progress) HostFinished(h *runner.HostResult) {
	if pr.inner != nil {
		pr.inner.HostFinished(h)
	}
	pr.mu.Lock()
	pr.done++
	if pr.running > 0 {
		pr.running--
	}
	switch h.Status {
	case runner.HostChanged:
		pr.changed++
	case runner.HostFailed, runner.HostUnreachable:
		pr.failed++
	}
	pr.mu.Unlock()
	if pr.bar != nil {
		pr.bar.Increment()
	}
}

// Close removes nothing from the screen: the bar stays, showing the final
// counts (or where an interrupted run stopped), and later writes go
// straight to the output. Safe to call twice.
func (pr *progress) Close() {
	pr.mu.Lock()
	if pr.closed {
		pr.mu.Unlock()
		return
	}
	pr.closed = true
	pr.mu.Unlock()
	if pr.p == nil {
		return
	}
	if pr.total == 0 {
		pr.bar.SetTotal(-1, true)
	} else {
		// Does nothing if every host finished (the bar completed).
		pr.bar.Abort(false)
	}
	pr.p.Wait()
}

func (pr *progress) counts() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	s := fmt.Sprintf("%d/%d hosts  changed %d  failed %d  remaining %d",
		pr.done, pr.total, pr.changed, pr.failed, pr.total-pr.done)
	if pr.batches > 0 {
		s = fmt.Sprintf("batch %d/%d  ", pr.batch, pr.batches) + s
	}
	return s
}

func (pr *progress) times() string {
	pr.mu.Lock()
	done, total := pr.done, pr.total
	pr.mu.Unlock()
	el := time.Since(pr.start)
	eta := "?"
	if done >= total {
		eta = "0s"
	} else if done > 0 {
		eta = shortDuration(el / time.Duration(done) * time.Duration(total-done))
	}
	return fmt.Sprintf("%s elapsed  ETA %s", shortDuration(el), eta)
}

// shortDuration rounds to the second: 1m05s, 12s, 1h02m.
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	default:
		return fmt.Sprintf("%ds", s)
	}
}

// BatchStarted implements runner.RolloutObserver: the bar shows the batch,
// and the printer its line.
func (pr *progress) BatchStarted(n, total int, hosts []string) {
	pr.SetBatch(n, total)
	if ro, ok := pr.inner.(runner.RolloutObserver); ok {
		ro.BatchStarted(n, total, hosts)
	}
}

// Pausing implements runner.RolloutObserver.
func (pr *progress) Pausing(d time.Duration, next, total int) {
	if ro, ok := pr.inner.(runner.RolloutObserver); ok {
		ro.Pausing(d, next, total)
	}
}

// RolloutStopped implements runner.RolloutObserver.
func (pr *progress) RolloutStopped(reason string, notAttempted []string) {
	if ro, ok := pr.inner.(runner.RolloutObserver); ok {
		ro.RolloutStopped(reason, notAttempted)
	}
}

// RolledBack implements runner.RollbackObserver.
func (pr *progress) RolledBack(host string, rb *runner.Rollback) {
	if ro, ok := pr.inner.(runner.RollbackObserver); ok {
		ro.RolledBack(host, rb)
	}
}
