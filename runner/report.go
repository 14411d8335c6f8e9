package runner

import "time"

// FormatVersion is the version of the JSON document that plan --json,
// plan --out and apply --json write. The schema is schema/report.v1.json.
const FormatVersion = "1"

// Mode is plan or apply.
type Mode string

const (
	ModePlan  Mode = "plan"
	ModeApply Mode = "apply"
)

// Host statuses.
const (
	HostOK          = "ok"          // nothing to change (plan) or nothing changed (apply)
	HostChanged     = "changed"     // changes pending (plan) or made (apply)
	HostFailed      = "failed"      // a step failed
	HostUnreachable = "unreachable" // no connection
	HostInterrupted = "interrupted" // stopped by a signal before finishing
	// HostRolledBack: a step failed and the changes this run had made on
	// the host were reverted (see HostResult.Rollback).
	HostRolledBack = "rolled_back"
	// HostNotAttempted: a rollout stopped (--max-fail, a failed canary)
	// before this host's batch.
	HostNotAttempted = "not_attempted"
	// HostDrifted: applying a saved plan, the host no longer matched the
	// plan; it was refused before any change (see HostResult.Drift).
	HostDrifted = "drifted"
	// HostCompletedEarlier: apply --resume skipped the host because the
	// earlier report shows it completed (ok or changed).
	HostCompletedEarlier = "completed_earlier"
)

// CountsAsFailure reports whether a host status counts against
// --max-fail and makes the exit code 1.
func CountsAsFailure(status string) bool {
	switch status {
	case HostFailed, HostUnreachable, HostRolledBack, HostDrifted, HostInterrupted:
		return true
	}
	return false
}

// Step statuses.
const (
	StepPlanned   = "planned"   // plan: would change
	StepUnchanged = "unchanged" // nothing to do
	StepChanged   = "changed"   // apply: changed
	StepSkipped   = "skipped"   // when = false or a guard
	StepFailed    = "failed"
	StepNotRun    = "not_run" // a failure or an interrupt stopped the host first
)

// Report is the result of a plan or an apply.
type Report struct {
	FormatVersion string        `json:"format_version"`
	Kind          Mode          `json:"kind"`
	Version       string        `json:"smcfleet_version"`
	Playbook      string        `json:"playbook"`
	Inventory     string        `json:"inventory,omitempty"`
	StartedAt     time.Time     `json:"started_at"`
	FinishedAt    time.Time     `json:"finished_at"`
	Interrupted   bool          `json:"interrupted"`
	Hosts         []*HostResult `json:"hosts"`
	Summary       Summary       `json:"summary"`
	// Rollout describes the batches of an apply made with --batch or
	// --canary (nil otherwise).
	Rollout *RolloutResult `json:"rollout,omitempty"`
	// Inputs (plans only) fingerprint what the plan was made from, so that
	// applying the saved plan can refuse it when any of it changed.
	Inputs *PlanInputs `json:"inputs,omitempty"`
	// Resumed names the report an apply --resume continued.
	Resumed string `json:"resumed_from,omitempty"`
}

// RolloutResult is what happened to the batches of a rollout.
type RolloutResult struct {
	Batches    [][]string `json:"batches"`
	BatchesRun int        `json:"batches_run"`
	Stopped    bool       `json:"stopped"`
	Reason     string     `json:"reason,omitempty"`
}

// Summary counts the run.
type Summary struct {
	Hosts       int `json:"hosts"`
	Changed     int `json:"changed"`   // steps and handlers that changed or would change
	Unchanged   int `json:"unchanged"` // steps with nothing to do
	Skipped     int `json:"skipped"`
	Failed      int `json:"failed"` // hosts
	Unreachable int `json:"unreachable"`
	HostsOK     int `json:"hosts_ok"`
	HostsChange int `json:"hosts_changed"`
	RolledBack  int `json:"rolled_back"`
	Drifted     int `json:"drifted"`
	// NotAttempted counts hosts a stopped rollout never started.
	NotAttempted int `json:"not_attempted"`
	// CompletedEarlier counts hosts apply --resume skipped.
	CompletedEarlier int `json:"completed_earlier"`
}

// HostResult is one host's part of a report.
type HostResult struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Status  string `json:"status"`
	Error   string `json:"error,omitempty"`
	// Reason explains a host that was not run (not_attempted,
	// completed_earlier, drifted).
	Reason   string        `json:"reason,omitempty"`
	Steps    []*StepResult `json:"steps"`
	Handlers []*StepResult `json:"handlers"`
	Counts   Counts        `json:"counts"`
	// Outputs are the playbook's output blocks for this host (secrets
	// redacted; "(known after apply)" in a plan where undecided).
	Outputs map[string]any `json:"outputs,omitempty"`
	// Rollback says what was reverted after a failure, and what was not.
	Rollback *Rollback `json:"rollback,omitempty"`
	// Drift lists, for a drifted host, each step that no longer matches
	// the saved plan, in words.
	Drift []string `json:"drift,omitempty"`
}

// Rollback is a host's rollback after a failed step.
type Rollback struct {
	// Cause is the failure that started it ("step command.x failed: ...").
	Cause string `json:"cause"`
	// Reverted are the steps whose changes were undone, with how.
	Reverted []string `json:"reverted"`
	// NotReverted are changes that could not be undone, in words.
	NotReverted []string `json:"not_reverted"`
	// Errors are reverts that were tried and failed.
	Errors []string `json:"errors,omitempty"`
}

// Counts are a host's step tallies (the recap).
type Counts struct {
	OK      int `json:"ok"`
	Changed int `json:"changed"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
}

// StepResult is one step or handler on one host.
type StepResult struct {
	Address     string         `json:"address"`
	Kind        string         `json:"kind"`
	Name        string         `json:"name"`
	Handler     bool           `json:"handler"`
	Description string         `json:"description,omitempty"`
	Action      ActionType     `json:"action"`
	Status      string         `json:"status"`
	Summary     string         `json:"summary,omitempty"`
	Reason      string         `json:"reason,omitempty"`
	Diff        string         `json:"diff,omitempty"`
	Details     []string       `json:"details,omitempty"`
	Warnings    []string       `json:"warnings,omitempty"`
	NotifiedBy  []string       `json:"notified_by,omitempty"`
	Error       string         `json:"error,omitempty"`
	Outputs     map[string]any `json:"outputs,omitempty"`
	// Observed is the precondition fingerprint of Check (Change.Observed).
	Observed   string `json:"observed,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}
