package runner

import (
	"context"
	"fmt"
	"strings"
)

// RollbackObserver is an optional part of an Observer: it hears about a
// host's rollback as soon as it is done (before the handlers run).
type RollbackObserver interface {
	RolledBack(host string, rb *Rollback)
}

func (h *hostRun) canRollback(ctx context.Context) bool {
	return h.o.Mode == ModeApply && !h.o.NoRollback && ctx.Err() == nil && len(h.applied) > 0
}

// rollback undoes the applied steps, latest first, and records what it did
// in the host's result. Interrupts never get here: an interrupted host is
// left as it is.
func (h *hostRun) rollback(ctx context.Context, cause string) {
	rb := &Rollback{Cause: h.red.String(cause), Reverted: []string{}, NotReverted: []string{}}
	h.result.Rollback = rb
	for i := len(h.applied) - 1; i >= 0; i-- {
		a := h.applied[i]
		addr := a.step.Address()
		rbk, ok := a.act.(Rollbacker)
		if !ok {
			rb.NotReverted = append(rb.NotReverted, notRevertible(a.step.Kind, addr))
			continue
		}
		timeout := h.o.StepTimeout
		if a.step.Timeout > 0 {
			timeout = a.step.Timeout
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		env := *h.env
		env.Timeout = timeout
		var notes []string
		env.Warn = func(msg string) { notes = append(notes, h.red.String(msg)) }
		err := rbk.Rollback(rctx, &env, a.ch)
		cancel()
		for _, n := range notes {
			rb.NotReverted = append(rb.NotReverted, addr+": "+n)
		}
		if err != nil {
			msg := h.red.String(stepErr(rctx, ctx, timeout, "rollback", err).Error())
			rb.Errors = append(rb.Errors, addr+": "+msg)
			a.res.Details = append(a.res.Details, "rollback failed: "+msg)
			continue
		}
		rb.Reverted = append(rb.Reverted, addr)
		a.res.Details = append(a.res.Details, "rolled back after the failure: "+rb.Cause)
	}
	if ro, ok := h.o.Observer.(RollbackObserver); ok {
		ro.RolledBack(h.t.Name, rb)
	}
}

// notRevertible says, in words, why a kind's change stays.
func notRevertible(kind, addr string) string {
	switch kind {
	case "command":
		return addr + " ran and cannot be undone"
	case "http":
		return addr + ": the request was sent and cannot be undone"
	case "fetch":
		return addr + ": the copies fetched to the controller are kept (it changed nothing on the host)"
	}
	return addr + " cannot be undone"
}

// rollbackStatus is the host's status and error after a rollback.
func (h *hostRun) rollbackStatus(failedAt, handlerFailed string) (string, string) {
	rb := h.result.Rollback
	msg := rb.Cause
	if len(rb.Errors) > 0 {
		return HostFailed, msg + "; the rollback failed too: " + strings.Join(rb.Errors, "; ")
	}
	if len(rb.Reverted) == 0 {
		return HostFailed, msg + "; nothing could be reverted: " + strings.Join(rb.NotReverted, "; ")
	}
	// Handlers that ran after the rollback must have succeeded for the
	// host to be back on its previous state.
	for _, r := range h.result.Handlers {
		for _, d := range r.Details {
			if strings.Contains(d, "after the rollback") {
				if r.Status == StepFailed {
					return HostFailed, fmt.Sprintf("%s; rolled back %s, but handler %s.%s failed afterwards", msg, strings.Join(rb.Reverted, ", "), r.Kind, r.Name)
				}
			}
		}
	}
	msg += "; rolled back " + strings.Join(rb.Reverted, ", ")
	if len(rb.NotReverted) > 0 {
		msg += "; not reverted: " + strings.Join(rb.NotReverted, "; ")
	}
	return HostRolledBack, msg
}
