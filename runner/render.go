package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Printer renders a run for people: in plan mode one block per host as it
// finishes; in apply mode one line per step as it happens; then a recap.
// Colour is used only when asked (the CLI asks on a terminal).
type Printer struct {
	mu    sync.Mutex
	w     io.Writer
	mode  Mode
	color bool
	quiet bool

	// A plan prints host blocks in inventory order, each as soon as it
	// and every host before it have finished.
	order   []string
	pending map[string]string
	next    int
}

// NewPrinter returns a Printer writing to w. hosts is the inventory order
// of the run's hosts, in which a plan prints them.
func NewPrinter(w io.Writer, mode Mode, color bool, hosts ...string) *Printer {
	return &Printer{w: w, mode: mode, color: color, order: hosts, pending: map[string]string{}}
}

// SetQuiet prints only changes, warnings and failures.
func (p *Printer) SetQuiet(q bool) { p.quiet = q }

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiDim    = "\x1b[2m"
)

func (p *Printer) c(code, s string) string {
	if !p.color {
		return s
	}
	return code + s + ansiReset
}

// HostStarted implements Observer.
func (p *Printer) HostStarted(string) {}

// StepFinished implements Observer: apply mode prints each step at once.
func (p *Printer) StepFinished(host string, r *StepResult) {
	if p.mode != ModeApply {
		return
	}
	if p.quiet && r.Status != StepChanged && r.Status != StepFailed && len(r.Warnings) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s\n", p.c(ansiBold, host), p.stepLine(r))
	p.stepBody(&b, r, "    ")
	io.WriteString(p.w, b.String())
}

// BatchStarted implements RolloutObserver.
func (p *Printer) BatchStarted(n, total int, hosts []string) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s %s\n", p.c(ansiBold, fmt.Sprintf("Batch %d/%d:", n, total)), strings.Join(hosts, ", "))
}

// Pausing implements RolloutObserver.
func (p *Printer) Pausing(d time.Duration, next, total int) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "Pausing %s before batch %d/%d (Ctrl-C stops the rollout).\n", d, next, total)
}

// RolloutStopped implements RolloutObserver.
func (p *Printer) RolloutStopped(reason string, notAttempted []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s %s; not attempted: %s\n", p.c(ansiRed, "Rollout stopped:"), reason, strings.Join(notAttempted, ", "))
}

// RolledBack implements RollbackObserver.
func (p *Printer) RolledBack(host string, rb *Rollback) {
	if p.mode != ModeApply {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	what := "nothing"
	if len(rb.Reverted) > 0 {
		what = strings.Join(rb.Reverted, ", ")
	}
	fmt.Fprintf(&b, "%s  %s %s: %s\n", p.c(ansiBold, host), p.c(ansiYellow, "< rolled back"), what, rb.Cause)
	for _, n := range rb.NotReverted {
		fmt.Fprintf(&b, "    not reverted: %s\n", n)
	}
	for _, e := range rb.Errors {
		fmt.Fprintf(&b, "    %s %s\n", p.c(ansiRed, "rollback failed:"), e)
	}
	io.WriteString(p.w, b.String())
}

// HostFinished implements Observer: plan mode prints the host's block.
func (p *Printer) HostFinished(h *HostResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	if p.mode == ModePlan {
		if !p.quiet || h.Status != HostOK || hasWarnings(h) {
			p.hostBlock(&b, h)
		}
		p.emitInOrder(h.Name, b.String())
		return
	} else if h.Status == HostUnreachable || (h.Status == HostFailed && len(h.Steps) == 0) || h.Status == HostInterrupted && len(h.Steps) == 0 {
		fmt.Fprintf(&b, "%s  %s %s\n", p.c(ansiBold, h.Name), p.c(ansiRed, h.Status+":"), h.Error)
	}
	io.WriteString(p.w, b.String())
}

// emitInOrder prints text for host once every earlier host has printed.
// Callers hold p.mu.
func (p *Printer) emitInOrder(host, text string) {
	if len(p.order) == 0 {
		io.WriteString(p.w, text)
		return
	}
	p.pending[host] = text
	for p.next < len(p.order) {
		t, ok := p.pending[p.order[p.next]]
		if !ok {
			return
		}
		io.WriteString(p.w, t)
		delete(p.pending, p.order[p.next])
		p.next++
	}
}

// flushPending prints what is still held back (hosts that never finished,
// after an interrupt). Callers hold p.mu.
func (p *Printer) flushPending() {
	for ; p.next < len(p.order); p.next++ {
		if t, ok := p.pending[p.order[p.next]]; ok {
			io.WriteString(p.w, t)
		}
	}
}

func (p *Printer) hostBlock(b *strings.Builder, h *HostResult) {
	head := fmt.Sprintf("%s (%s)", h.Name, h.Address)
	switch h.Status {
	case HostUnreachable, HostFailed, HostInterrupted:
		fmt.Fprintf(b, "%s: %s\n", p.c(ansiBold, head), p.c(ansiRed, h.Status))
		if h.Error != "" {
			fmt.Fprintf(b, "  %s\n", indentLines(h.Error, "  "))
		}
	case HostChanged:
		fmt.Fprintf(b, "%s: %s\n", p.c(ansiBold, head), p.c(ansiYellow, fmt.Sprintf("%d to change", h.Counts.Changed)))
	default:
		fmt.Fprintf(b, "%s: %s\n", p.c(ansiBold, head), p.c(ansiGreen, "no changes"))
	}
	for _, r := range h.Steps {
		if p.quiet && r.Status == StepUnchanged {
			continue
		}
		fmt.Fprintf(b, "  %s\n", p.stepLine(r))
		p.stepBody(b, r, "      ")
	}
	for _, r := range h.Handlers {
		fmt.Fprintf(b, "  %s\n", p.stepLine(r))
		p.stepBody(b, r, "      ")
	}
	b.WriteString("\n")
}

// symbols: + create, ~ update, > run, = unchanged, / skipped,
// ? decided during apply, ! failed, . not run.
func (p *Printer) stepLine(r *StepResult) string {
	addr := r.Address
	if r.Handler {
		addr = "handler " + r.Kind + "." + r.Name
	}
	var sym, word, color string
	switch r.Status {
	case StepFailed:
		sym, word, color = "!", "failed", ansiRed
	case StepSkipped:
		sym, word, color = "/", "skipped", ansiDim
	case StepNotRun:
		sym, word, color = ".", "not run", ansiDim
	case StepUnchanged:
		sym, word, color = "=", "unchanged", ansiDim
	default:
		switch r.Action {
		case ActionCreate:
			sym, word, color = "+", "create", ansiGreen
		case ActionUpdate:
			sym, word, color = "~", "update", ansiYellow
		case ActionRun:
			sym, word, color = ">", "run", ansiCyan
		case ActionUnknown:
			sym, word, color = "?", "decided during apply", ansiCyan
		}
		if r.Status == StepChanged {
			word = "changed"
		}
		if r.Handler && r.Status == StepPlanned {
			word = "would run"
		}
	}
	line := fmt.Sprintf("%s %s  %s", p.c(color, sym), addr, p.c(color, word))
	detail := r.Summary
	switch r.Status {
	case StepSkipped, StepNotRun:
		detail = r.Reason
	case StepFailed:
		detail = r.Error
	}
	if detail != "" {
		line += ": " + indentLines(detail, "    ")
	}
	if len(r.NotifiedBy) > 0 {
		line += " (notified by " + strings.Join(r.NotifiedBy, ", ") + ")"
	}
	return line
}

func (p *Printer) stepBody(b *strings.Builder, r *StepResult, indent string) {
	for _, d := range r.Details {
		fmt.Fprintf(b, "%s%s\n", indent, d)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(b, "%s%s %s\n", indent, p.c(ansiYellow, "warning:"), w)
	}
	if r.Diff == "" || r.Status == StepUnchanged {
		return
	}
	for _, line := range strings.Split(r.Diff, "\n") {
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			line = p.c(ansiBold, line)
		case strings.HasPrefix(line, "+"):
			line = p.c(ansiGreen, line)
		case strings.HasPrefix(line, "-"):
			line = p.c(ansiRed, line)
		case strings.HasPrefix(line, "@@"):
			line = p.c(ansiCyan, line)
		}
		fmt.Fprintf(b, "%s%s\n", indent, line)
	}
}

// Recap prints the closing summary: per host in apply mode, then one line.
func (p *Printer) Recap(rep *Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flushPending()
	s := rep.Summary
	if p.quiet && s.Changed == 0 && s.Failed == 0 && s.Unreachable == 0 && s.RolledBack == 0 && s.Drifted == 0 && s.NotAttempted == 0 && !rep.Interrupted {
		quietOK := true
		for _, h := range rep.Hosts {
			quietOK = quietOK && !hasWarnings(h)
		}
		if quietOK {
			return
		}
	}
	var b strings.Builder
	if rep.Kind == ModeApply {
		b.WriteString("\nRecap:\n")
		width := 4
		for _, h := range rep.Hosts {
			width = max(width, len(h.Name))
		}
		for _, h := range rep.Hosts {
			color := ansiGreen
			switch h.Status {
			case HostChanged:
				color = ansiYellow
			case HostFailed, HostUnreachable, HostInterrupted, HostRolledBack, HostDrifted:
				color = ansiRed
			case HostNotAttempted:
				color = ansiDim
			}
			fmt.Fprintf(&b, "  %-*s  %s  ok=%d changed=%d skipped=%d failed=%d",
				width, h.Name, p.c(color, fmt.Sprintf("%-11s", h.Status)), h.Counts.OK, h.Counts.Changed, h.Counts.Skipped, h.Counts.Failed)
			switch {
			case h.Error != "" && h.Status != HostChanged && h.Status != HostOK:
				fmt.Fprintf(&b, "  %s", firstLine(h.Error))
			case h.Reason != "":
				fmt.Fprintf(&b, "  %s", firstLine(h.Reason))
			}
			b.WriteString("\n")
		}
	}
	if rep.Kind == ModeApply {
		p.writeOutputs(&b, rep)
	}
	verb := "Plan"
	changeWord := "to change"
	if rep.Kind == ModeApply {
		verb, changeWord = "Apply", "changed"
	}
	if rep.Interrupted {
		verb += " (interrupted)"
	}
	var extra string
	for _, x := range []struct {
		n    int
		word string
	}{{s.RolledBack, "rolled back"}, {s.Drifted, "drifted"}, {s.NotAttempted, "not attempted"}, {s.CompletedEarlier, "completed earlier"}} {
		if x.n > 0 {
			extra += fmt.Sprintf(", %d %s", x.n, x.word)
		}
	}
	fmt.Fprintf(&b, "%s: %d hosts, %d %s, %d unchanged, %d skipped, %d failed, %d unreachable%s.\n",
		p.c(ansiBold, verb), s.Hosts, s.Changed, changeWord, s.Unchanged, s.Skipped, s.Failed, s.Unreachable, extra)
	io.WriteString(p.w, b.String())
}

func indentLines(s, indent string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+indent)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// writeOutputs prints the playbook's outputs: once when every host has the
// same value, else per host.
func (p *Printer) writeOutputs(b *strings.Builder, rep *Report) {
	var names []string
	seen := map[string]bool{}
	for _, h := range rep.Hosts {
		for n := range h.Outputs {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	b.WriteString("\nOutputs:\n")
	for _, n := range names {
		values := map[string][]string{}
		var order []string
		for _, h := range rep.Hosts {
			v, ok := h.Outputs[n]
			if !ok {
				continue
			}
			text := outputText(v)
			if _, ok := values[text]; !ok {
				order = append(order, text)
			}
			values[text] = append(values[text], h.Name)
		}
		if len(order) == 1 {
			fmt.Fprintf(b, "  %s = %s\n", p.c(ansiBold, n), indentLines(order[0], "    "))
			continue
		}
		fmt.Fprintf(b, "  %s:\n", p.c(ansiBold, n))
		for _, text := range order {
			fmt.Fprintf(b, "    %s: %s\n", strings.Join(values[text], ", "), indentLines(text, "      "))
		}
	}
}

func outputText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	bs, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(bs)
}

func hasWarnings(h *HostResult) bool {
	for _, r := range append(append([]*StepResult{}, h.Steps...), h.Handlers...) {
		if len(r.Warnings) > 0 {
			return true
		}
	}
	return false
}
