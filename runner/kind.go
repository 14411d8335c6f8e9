package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/smcfleet/smcfleet/internal/redact"
	"github.com/smcfleet/smcfleet/playbooks"
)

// Kind is a step kind: how its body is decoded and how it checks and
// applies its change.
type Kind struct {
	Name    string
	Summary string
	Spec    hcldec.ObjectSpec
	Outputs cty.Type
	// New builds the action from a wholly known, decoded body. Sensitive
	// marks are still on cfg so the kind can hide secret content.
	New func(cfg cty.Value) (Action, error)
}

// Action is one step on one host. Check is read-only and is the whole of a
// plan; apply runs Check, then Apply with the change Check returned, so a
// dry run and a real run share one code path.
type Action interface {
	Check(ctx context.Context, env *Env) (*Change, error)
	Apply(ctx context.Context, env *Env, ch *Change) (cty.Value, error)
}

// ActionType says what a step would do or did.
type ActionType string

const (
	ActionNone    ActionType = "none"    // already in the desired state
	ActionCreate  ActionType = "create"  // a file or entry will be created
	ActionUpdate  ActionType = "update"  // an existing file or entry will change
	ActionRun     ActionType = "run"     // a command will run
	ActionSkip    ActionType = "skip"    // when = false, or a guard said no
	ActionUnknown ActionType = "unknown" // depends on values known only during apply
)

// Changes reports whether the action changes the host.
func (a ActionType) Changes() bool {
	return a == ActionCreate || a == ActionUpdate || a == ActionRun
}

// Change is what Check found.
type Change struct {
	Action ActionType
	// Summary is one line: what and where ("/etc/x (backup /etc/x.bak)").
	Summary string
	// Diff is a unified diff, already free of sensitive content.
	Diff string
	// Details are extra lines shown under the step.
	Details []string
	// Outputs, when set, are the step's outputs as known after Check
	// (for a step with nothing to do they are final).
	Outputs cty.Value
	// Planned, when set, is what later steps of a plan see when this step
	// would change something: the outputs it will have, with unknown
	// values for what only the apply makes real. Unset: all unknown.
	Planned cty.Value
	// State carries kind-private data from Check to Apply (and to
	// Rollback: what was there before).
	State any
	// Observed is the precondition fingerprint: the SHA-256 (hex) of what
	// Check read on the host (file content and metadata, guard results,
	// remote sums, trust-store entries, configuration values). A saved
	// plan records it; applying the plan refuses a host where it differs.
	// "" means the step observes nothing that can drift (read-only
	// reporting such as log_scan).
	Observed string
}

// Rollbacker is implemented by actions whose Apply can be undone: when a
// later step on the same host fails, the runner calls Rollback (latest
// first) with the Change the Apply used. Rollback restores what Check saw
// before the change; what it cannot restore it reports through env.Warn.
type Rollbacker interface {
	Rollback(ctx context.Context, env *Env, ch *Change) error
}

// fingerprint hashes the parts of an observation into Change.Observed.
func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Env is what an action may use on its host.
type Env struct {
	Conn   Conn
	Host   Target
	Redact *redact.Redactor
	// Warn records a warning on the step's result.
	Warn func(msg string)
	// Timeout is the step's time limit (commands are stopped after it).
	Timeout time.Duration
	// DialController opens a TCP connection from where smcfleet runs
	// (steps with via = "controller").
	DialController func(ctx context.Context, network, addr string) (net.Conn, error)
	// API returns the host's Manager API session (opened on first use,
	// one per host per run).
	API func(ctx context.Context) (ManagerAPI, error)
}

// Registry is the set of step kinds a run may use.
type Registry map[string]*Kind

// DefaultKinds returns the built-in step kinds.
func DefaultKinds() Registry {
	r := Registry{}
	for _, k := range []*Kind{fileKind(), commandKind(), fetchKind(), certFetchKind(), tlsProbeKind(), trustStoreKind(), smcConfigKind(), httpKind(), LogScanKind()} {
		r[k.Name] = k
	}
	return r
}

// Schemas is what the playbook loader needs to check bodies.
func (r Registry) Schemas() map[string]playbooks.KindSchema {
	out := map[string]playbooks.KindSchema{}
	for name, k := range r {
		out[name] = playbooks.KindSchema{Spec: k.Spec, Outputs: k.Outputs}
	}
	return out
}

// Names lists the kinds, sorted.
func (r Registry) Names() []string {
	var out []string
	for n := range r {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
