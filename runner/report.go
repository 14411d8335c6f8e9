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
)

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
}

// HostResult is one host's part of a report.
type HostResult struct {
	Name     string        `json:"name"`
	Address  string        `json:"address"`
	Status   string        `json:"status"`
	Error    string        `json:"error,omitempty"`
	Steps    []*StepResult `json:"steps"`
	Handlers []*StepResult `json:"handlers"`
	Counts   Counts        `json:"counts"`
	// Outputs are the playbook's output blocks for this host (secrets
	// redacted; "(known after apply)" in a plan where undecided).
	Outputs map[string]any `json:"outputs,omitempty"`
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
	DurationMS  int64          `json:"duration_ms"`
}
