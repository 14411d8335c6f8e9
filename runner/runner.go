// Package runner plans and applies playbooks on hosts: per host it connects
// once, evaluates each step's body late, runs the step's read-only Check,
// and in apply mode its Apply, then the handlers the changes notified.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/smcfleet/smcfleet/internal/lang"
	"github.com/smcfleet/smcfleet/internal/redact"
	"github.com/smcfleet/smcfleet/playbooks"
)

// DefaultForks is how many hosts run at once unless told otherwise.
const DefaultForks = 10

// DefaultStepTimeout bounds a step that sets no timeout of its own.
const DefaultStepTimeout = 10 * time.Minute

// Target is one host of a run, with everything resolved before connecting.
type Target struct {
	Name    string
	Address string
	Info    playbooks.HostInfo
	// Vars are the playbook variables resolved for this host.
	Vars map[string]cty.Value
	// Secrets are strings to redact from everything this host prints
	// (the inventory's passwords); the sensitive values in Vars and
	// Info.Vars are found by the runner itself.
	Secrets []string
	// Data is for the Connector (the inventory host, say).
	Data any
}

// Connector opens (or hands out an already open) connection to a target.
type Connector interface {
	Connect(ctx context.Context, t Target) (Conn, error)
}

// Observer hears about progress as it happens. Calls come from several
// goroutines; implementations lock.
type Observer interface {
	HostStarted(host string)
	StepFinished(host string, r *StepResult)
	HostFinished(h *HostResult)
}

// Options configure a run.
type Options struct {
	Mode        Mode
	Playbook    *playbooks.Playbook
	Kinds       Registry
	Targets     []Target
	Connector   Connector
	Forks       int
	StepTimeout time.Duration
	Observer    Observer
	Version     string
	Inventory   string
	// DialController opens connections from the controller (steps with
	// via = "controller"); nil means a plain net.Dialer.
	DialController func(ctx context.Context, network, addr string) (net.Conn, error)
	// APIConnector opens the Managers' API sessions; nil: no step may
	// use the API.
	APIConnector APIConnector
	// Rollout, in apply mode, runs the hosts in batches and stops after a
	// batch when too many failed (nil: all hosts in one go).
	Rollout *Rollout
	// NoRollback keeps a failed host as it is, instead of reverting the
	// changes this run made on it.
	NoRollback bool
}

// Run plans or applies the playbook on every target, at most Forks hosts at
// a time, and returns the report. A cancelled ctx stops every host before
// its next step; commands already running are signalled through ctx. In
// apply mode with a Rollout, hosts go in batches (see Rollout).
func Run(ctx context.Context, o Options) *Report {
	if o.Forks <= 0 {
		o.Forks = DefaultForks
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = DefaultStepTimeout
	}
	if o.Kinds == nil {
		o.Kinds = DefaultKinds()
	}
	rep := &Report{
		FormatVersion: FormatVersion,
		Kind:          o.Mode,
		Version:       o.Version,
		Playbook:      o.Playbook.Path,
		Inventory:     o.Inventory,
		StartedAt:     time.Now().UTC(),
		Hosts:         make([]*HostResult, len(o.Targets)),
	}
	all := make([]int, len(o.Targets))
	for i := range all {
		all[i] = i
	}
	batches := [][]int{all}
	ro := o.Rollout
	if o.Mode != ModeApply {
		ro = nil
	}
	if ro != nil && ro.batched() {
		batches = ro.split(len(o.Targets))
		rep.Rollout = &RolloutResult{Batches: make([][]string, len(batches))}
		for b, idx := range batches {
			for _, i := range idx {
				rep.Rollout.Batches[b] = append(rep.Rollout.Batches[b], o.Targets[i].Name)
			}
		}
	}
	rob, _ := o.Observer.(RolloutObserver)
	failures := 0
	if ro != nil {
		failures = ro.PriorFailures
	}
	stop := ""
	for b, idx := range batches {
		if stop == "" && b > 0 && ro != nil && ro.Pause > 0 && ctx.Err() == nil {
			if rob != nil {
				rob.Pausing(ro.Pause, b+1, len(batches))
			}
			t := time.NewTimer(ro.Pause)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if stop != "" {
			for _, i := range idx {
				t := o.Targets[i]
				rep.Hosts[i] = &HostResult{Name: t.Name, Address: t.Address, Status: HostNotAttempted,
					Reason: "the rollout stopped before this host's batch: " + stop, Steps: []*StepResult{}, Handlers: []*StepResult{}}
			}
			continue
		}
		if rep.Rollout != nil && ctx.Err() == nil {
			rep.Rollout.BatchesRun++
			if rob != nil {
				rob.BatchStarted(b+1, len(batches), rep.Rollout.Batches[b])
			}
		}
		runBatch(ctx, &o, idx, rep)
		if ro == nil || ctx.Err() != nil {
			continue
		}
		var failed []string
		for _, i := range idx {
			if CountsAsFailure(rep.Hosts[i].Status) {
				failures++
				failed = append(failed, rep.Hosts[i].Name)
			}
		}
		if b == len(batches)-1 {
			break
		}
		switch {
		case b == 0 && ro.Canary > 0 && len(failed) > 0:
			stop = fmt.Sprintf("the canary failed (%s)", strings.Join(failed, ", "))
		case ro.MaxFail >= 0 && failures > ro.MaxFail:
			word := "failures exceed"
			if failures == 1 {
				word = "failure exceeds"
			}
			stop = fmt.Sprintf("%d %s %s", failures, word, ro.MaxFailText)
		}
		if stop != "" {
			rep.Rollout.Stopped = true
			rep.Rollout.Reason = stop
			if rob != nil {
				var rest []string
				for _, later := range rep.Rollout.Batches[b+1:] {
					rest = append(rest, later...)
				}
				rob.RolloutStopped(stop, rest)
			}
		}
	}
	rep.FinishedAt = time.Now().UTC()
	rep.Interrupted = ctx.Err() != nil
	rep.Summary = Summarize(rep.Hosts)
	return rep
}

// runBatch runs the hosts idx of o.Targets, at most o.Forks at a time, and
// fills their results in rep.
func runBatch(ctx context.Context, o *Options, idx []int, rep *Report) {
	sem := make(chan struct{}, o.Forks)
	var wg sync.WaitGroup
	for _, i := range idx {
		t := o.Targets[i]
		if ctx.Err() != nil {
			rep.Hosts[i] = &HostResult{Name: t.Name, Address: t.Address, Status: HostInterrupted, Error: "interrupted before this host started"}
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			rep.Hosts[i] = &HostResult{Name: t.Name, Address: t.Address, Status: HostInterrupted, Error: "interrupted before this host started"}
			continue
		}
		wg.Add(1)
		go func(i int, t Target) {
			defer wg.Done()
			defer func() { <-sem }()
			hr := (&hostRun{o: o, t: t}).run(ctx)
			rep.Hosts[i] = hr
			if o.Observer != nil {
				o.Observer.HostFinished(hr)
			}
		}(i, t)
	}
	wg.Wait()
}

// Summarize counts hosts and steps.
func Summarize(hosts []*HostResult) Summary {
	var s Summary
	s.Hosts = len(hosts)
	for _, h := range hosts {
		switch h.Status {
		case HostFailed, HostInterrupted:
			s.Failed++
		case HostUnreachable:
			s.Unreachable++
		case HostChanged:
			s.HostsChange++
		case HostOK:
			s.HostsOK++
		case HostRolledBack:
			s.RolledBack++
		case HostDrifted:
			s.Drifted++
		case HostNotAttempted:
			s.NotAttempted++
		case HostCompletedEarlier:
			s.CompletedEarlier++
		}
		for _, r := range append(append([]*StepResult{}, h.Steps...), h.Handlers...) {
			switch r.Status {
			case StepPlanned, StepChanged:
				s.Changed++
			case StepUnchanged:
				s.Unchanged++
			case StepSkipped:
				s.Skipped++
			}
		}
	}
	return s
}

type hostRun struct {
	o      *Options
	t      Target
	red    *redact.Redactor
	env    *Env
	scope  *playbooks.Scope
	result *HostResult
	// applied are the steps whose Apply succeeded, in order, for rollback.
	applied []appliedStep
}

type appliedStep struct {
	step *playbooks.Step
	act  Action
	ch   *Change
	res  *StepResult
}

func (h *hostRun) run(ctx context.Context) *HostResult {
	o, t := h.o, h.t
	hr := &HostResult{Name: t.Name, Address: t.Address, Status: HostOK, Steps: []*StepResult{}, Handlers: []*StepResult{}}
	h.result = hr
	if o.Observer != nil {
		o.Observer.HostStarted(t.Name)
	}
	h.red = redact.New(t.Secrets...)
	for _, v := range t.Vars {
		h.red.Add(lang.SecretStrings(v)...)
	}
	for _, v := range t.Info.Vars {
		h.red.Add(lang.SecretStrings(v)...)
	}

	scope, diags := o.Playbook.NewScope(t.Info, t.Vars)
	h.red.Add(scope.TakeSecrets()...)
	if diags.HasErrors() {
		hr.Status = HostFailed
		hr.Error = h.red.String(diagText(diags))
		return hr
	}
	h.scope = scope

	conn, err := o.Connector.Connect(ctx, t)
	if err != nil {
		hr.Status = HostUnreachable
		if ctx.Err() != nil {
			hr.Status = HostInterrupted
		}
		hr.Error = h.red.String(err.Error())
		return hr
	}
	h.env = &Env{Conn: conn, Host: t, Redact: h.red, DialController: o.DialController}
	if h.env.DialController == nil {
		var d net.Dialer
		h.env.DialController = d.DialContext
	}
	h.env.API = func(ctx context.Context) (ManagerAPI, error) {
		if o.APIConnector == nil {
			return nil, errors.New("this command cannot use the Manager API")
		}
		return o.APIConnector.API(ctx, t)
	}

	notified := map[string][]string{}
	failedAt, cause := "", ""
	for _, s := range o.Playbook.Steps {
		if failedAt != "" || ctx.Err() != nil {
			reason := failedAt + " failed"
			if ctx.Err() != nil {
				reason = "interrupted"
			}
			hr.Steps = append(hr.Steps, h.notRun(s, reason))
			continue
		}
		res := h.step(ctx, s, nil)
		hr.Steps = append(hr.Steps, res)
		if res.Status == StepFailed {
			failedAt = s.Address()
			cause = "step " + failedAt + " failed: " + firstLine(res.Error)
			continue
		}
		if res.Action.Changes() || res.Action == ActionUnknown {
			for _, n := range s.Notify {
				by := s.Address()
				if res.Action == ActionUnknown {
					by += " (if it changes)"
				}
				notified[n] = append(notified[n], by)
			}
		}
	}
	// A failed step: revert what this run changed on the host first, so
	// the handlers bring the service back on its previous state.
	if failedAt != "" && h.canRollback(ctx) {
		h.rollback(ctx, cause)
	}
	handlerFailed := ""
	for _, hs := range o.Playbook.Handlers {
		by := notified[hs.Name]
		if len(by) == 0 {
			continue
		}
		if ctx.Err() != nil {
			r := h.notRun(hs, "interrupted")
			r.NotifiedBy = by
			hr.Handlers = append(hr.Handlers, r)
			continue
		}
		var note string
		switch {
		case hr.Rollback != nil && len(hr.Rollback.Reverted) > 0:
			note = fmt.Sprintf("runs after the rollback of %s (%s failed), so the service comes back on its previous state", strings.Join(hr.Rollback.Reverted, ", "), failedAt)
		case failedAt != "":
			note = fmt.Sprintf("runs although %s failed: it was notified before the failure", failedAt)
		}
		r := h.step(ctx, hs, by, note)
		hr.Handlers = append(hr.Handlers, r)
		if r.Status == StepFailed && handlerFailed == "" {
			handlerFailed = "handler " + hs.Kind + "." + hs.Name
			if cause == "" {
				cause = handlerFailed + " failed: " + firstLine(r.Error)
			}
		}
	}
	// A failed handler after successful steps (a restart that fails on
	// the new configuration, say): revert, then run the handlers of the
	// reverted steps again.
	if failedAt == "" && handlerFailed != "" && h.canRollback(ctx) {
		h.rollback(ctx, cause)
		reverted := map[string]bool{}
		for _, a := range hr.Rollback.Reverted {
			reverted[a] = true
		}
		for _, hs := range o.Playbook.Handlers {
			var by []string
			for _, b := range notified[hs.Name] {
				if reverted[b] {
					by = append(by, b)
				}
			}
			if len(by) == 0 || ctx.Err() != nil {
				continue
			}
			note := fmt.Sprintf("runs again after the rollback of %s, so the service comes back on its previous state", strings.Join(hr.Rollback.Reverted, ", "))
			hr.Handlers = append(hr.Handlers, h.step(ctx, hs, by, note))
		}
	}

	if failedAt == "" && handlerFailed == "" && ctx.Err() == nil {
		hr.Outputs = h.outputs()
	}

	for _, r := range append(append([]*StepResult{}, hr.Steps...), hr.Handlers...) {
		switch r.Status {
		case StepChanged, StepPlanned:
			hr.Counts.Changed++
		case StepUnchanged:
			hr.Counts.OK++
		case StepSkipped:
			hr.Counts.Skipped++
		case StepFailed:
			hr.Counts.Failed++
		}
	}
	switch {
	case ctx.Err() != nil:
		hr.Status = HostInterrupted
		hr.Error = "interrupted"
		if failedAt != "" {
			hr.Error = "interrupted during " + failedAt
		}
	case hr.Rollback != nil:
		hr.Status, hr.Error = h.rollbackStatus(failedAt, handlerFailed)
	case hr.Counts.Failed > 0:
		hr.Status = HostFailed
		hr.Error = "step " + failedAt + " failed"
		if failedAt == "" {
			hr.Error = "a handler failed"
		}
	case hr.Counts.Changed > 0:
		hr.Status = HostChanged
	}
	return hr
}

func (h *hostRun) notRun(s *playbooks.Step, reason string) *StepResult {
	r := &StepResult{
		Address: s.Address(), Kind: s.Kind, Name: s.Name, Handler: s.Handler,
		Description: s.Description, Action: ActionNone, Status: StepNotRun, Reason: reason,
	}
	if h.o.Observer != nil {
		h.o.Observer.StepFinished(h.t.Name, r)
	}
	return r
}

// step runs one step or handler; notifiedBy and notes are for handlers.
func (h *hostRun) step(ctx context.Context, s *playbooks.Step, notifiedBy []string, notes ...string) (res *StepResult) {
	start := time.Now()
	res = &StepResult{
		Address: s.Address(), Kind: s.Kind, Name: s.Name, Handler: s.Handler,
		Description: s.Description, Action: ActionNone, NotifiedBy: notifiedBy,
	}
	kind := h.o.Kinds[s.Kind]
	defer func() {
		res.DurationMS = time.Since(start).Milliseconds()
		if h.o.Observer != nil {
			h.o.Observer.StepFinished(h.t.Name, res)
		}
	}()
	fail := func(err error) *StepResult {
		res.Status = StepFailed
		res.Error = h.red.String(err.Error())
		if !s.Handler {
			h.scope.SetOutputs(s.Name, cty.UnknownVal(kind.Outputs))
		}
		return res
	}
	skip := func(action ActionType, reason string) *StepResult {
		res.Action = action
		res.Status = StepSkipped
		res.Reason = h.red.String(reason)
		if !s.Handler {
			h.scope.SetOutputs(s.Name, cty.NullVal(kind.Outputs))
		}
		return res
	}

	run, known, diags := h.scope.When(s)
	h.red.Add(h.scope.TakeSecrets()...)
	if diags.HasErrors() {
		return fail(errors.New(diagText(diags)))
	}
	if !known {
		if h.o.Mode == ModeApply {
			return skip(ActionSkip, fmt.Sprintf("when `%s` cannot be decided: it depends on a step that did not run", s.WhenText))
		}
		res.Action = ActionUnknown
		res.Status = StepPlanned
		res.Summary = fmt.Sprintf("when `%s` depends on earlier steps", s.WhenText)
		h.scope.SetOutputs(s.Name, cty.UnknownVal(kind.Outputs))
		return res
	}
	if !run {
		return skip(ActionSkip, fmt.Sprintf("when `%s` is false", s.WhenText))
	}

	cfg, diags := h.scope.Decode(s)
	if diags.HasErrors() {
		return fail(errors.New(diagText(diags)))
	}
	// Only the secrets themselves are redacted from free text, not whole
	// strings built from them: a command line stays readable as
	// "curl -u admin:(sensitive) ...". Sensitive file content is hidden
	// whole by the file step.
	h.red.Add(h.scope.TakeSecrets()...)
	if !cfg.IsWhollyKnown() {
		if h.o.Mode == ModeApply {
			return skip(ActionSkip, "its settings depend on a step that did not run")
		}
		res.Action = ActionUnknown
		res.Status = StepPlanned
		res.Summary = "settings depend on earlier steps (" + strings.Join(unknownAttrs(cfg), ", ") + ")"
		if !s.Handler {
			h.scope.SetOutputs(s.Name, cty.UnknownVal(kind.Outputs))
		}
		return res
	}
	act, err := kind.New(cfg)
	if err != nil {
		return fail(err)
	}

	timeout := h.o.StepTimeout
	if s.Timeout > 0 {
		timeout = s.Timeout
	}
	stepCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	env := *h.env
	env.Timeout = timeout
	env.Warn = func(msg string) { res.Warnings = append(res.Warnings, h.red.String(msg)) }

	ch, err := act.Check(stepCtx, &env)
	if err != nil {
		return fail(stepErr(stepCtx, ctx, timeout, "check", err))
	}
	res.Action = ch.Action
	res.Observed = ch.Observed
	res.Summary = h.red.String(ch.Summary)
	res.Diff = h.red.String(ch.Diff)
	for _, n := range notes {
		if n != "" {
			res.Details = append(res.Details, n)
		}
	}
	res.Details = append(res.Details, h.red.Strings(ch.Details)...)
	outputs := ch.Outputs

	switch {
	case ch.Action == ActionSkip:
		res.Status = StepSkipped
		res.Reason = res.Summary
	case !ch.Action.Changes():
		res.Status = StepUnchanged
	case h.o.Mode == ModePlan:
		res.Status = StepPlanned
	default:
		out, err := act.Apply(stepCtx, &env, ch)
		if err != nil {
			return fail(stepErr(stepCtx, ctx, timeout, "apply", err))
		}
		res.Status = StepChanged
		outputs = out
		if !s.Handler {
			h.applied = append(h.applied, appliedStep{step: s, act: act, ch: ch, res: res})
		}
	}
	if outputs == cty.NilVal {
		outputs = cty.UnknownVal(kind.Outputs)
		if res.Status == StepSkipped {
			outputs = cty.NullVal(kind.Outputs)
		}
	}
	res.Outputs = h.outputsJSON(outputs)
	if res.Status == StepPlanned {
		// What a change would produce does not exist yet: later steps see
		// "known after apply", as in Terraform, and never act on
		// half-known state, except what the kind says is already certain.
		// The report still shows what Check learnt.
		outputs = cty.UnknownVal(kind.Outputs)
		if ch.Planned != cty.NilVal {
			outputs = ch.Planned
		}
	}
	if !s.Handler {
		h.scope.SetOutputs(s.Name, outputs)
	}
	return res
}

func stepErr(stepCtx, runCtx context.Context, timeout time.Duration, phase string, err error) error {
	if runCtx.Err() != nil {
		return fmt.Errorf("interrupted during %s: %w", phase, err)
	}
	if errors.Is(stepCtx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %s during %s (raise the step's timeout): %w", timeout, phase, err)
	}
	return err
}

// outputsJSON renders known outputs for the report, secrets redacted.
func (h *hostRun) outputsJSON(v cty.Value) map[string]any {
	if v == cty.NilVal || v.IsNull() || !v.IsWhollyKnown() {
		return nil
	}
	v = lang.Redact(v)
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(h.red.String(string(b))), &out); err != nil {
		return nil
	}
	return out
}

func unknownAttrs(cfg cty.Value) []string {
	var out []string
	cfg, _ = cfg.UnmarkDeep()
	if !cfg.Type().IsObjectType() || !cfg.IsKnown() {
		return []string{"all"}
	}
	for name := range cfg.Type().AttributeTypes() {
		if !cfg.GetAttr(name).IsWhollyKnown() {
			out = append(out, name)
		}
	}
	return out
}

// diagText renders diagnostics as plain text lines (file:line:col: summary;
// detail), for step errors that happen on a host at run time.
func diagText(diags hcl.Diagnostics) string {
	var lines []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		line := d.Summary
		if d.Detail != "" {
			line += ": " + d.Detail
		}
		if d.Subject != nil {
			line = fmt.Sprintf("%s:%d:%d: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, line)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// outputs evaluates the playbook's output blocks for this host.
func (h *hostRun) outputs() map[string]any {
	if len(h.o.Playbook.Outputs) == 0 {
		return nil
	}
	out := map[string]any{}
	for _, o := range h.o.Playbook.Outputs {
		v, diags := h.scope.Output(o)
		h.red.Add(h.scope.TakeSecrets()...)
		switch {
		case diags.HasErrors():
			out[o.Name] = "(error: " + h.red.String(diagText(diags)) + ")"
		case !v.IsWhollyKnown():
			out[o.Name] = "(known after apply)"
		default:
			wrapped := h.outputsJSON(cty.ObjectVal(map[string]cty.Value{"v": v}))
			out[o.Name] = wrapped["v"]
		}
	}
	return out
}
