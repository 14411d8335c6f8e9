package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// PlanInputs fingerprint what a plan was made from. Applying a saved plan
// loads the same playbook, inventory and variables again and refuses the
// whole plan when any fingerprint differs. Nothing secret is stored:
// files and variable values are kept as SHA-256 sums, and the values of
// sensitive --var assignments are not kept at all (they must be given
// again to the apply, and are checked against their sum).
type PlanInputs struct {
	// Playbook is the playbook as given (a path made absolute, or the name
	// of a bundled playbook) with the SHA-256 of all its sources.
	Playbook InputFile `json:"playbook"`
	// PlaybookFiles are its source files, sorted by name, each with its sum.
	PlaybookFiles []InputFile `json:"playbook_files"`
	Inventory     InputFile   `json:"inventory"`
	Limit         string      `json:"limit,omitempty"`
	VarFiles      []InputFile `json:"var_files,omitempty"`
	// Vars are the --var assignments, in order.
	Vars []InputVar `json:"vars,omitempty"`
	// HostVars is, per host, the SHA-256 of its resolved variable values
	// (every source: defaults, SMCFLEET_VAR_*, inventory, files, --var).
	HostVars map[string]string `json:"host_vars"`
}

// InputFile is a file (or a bundled playbook) and the SHA-256 of its
// content.
type InputFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// InputVar is one --var NAME=VALUE. Value is kept only when the variable
// is not sensitive; SHA256 is the sum of the whole assignment.
type InputVar struct {
	Name      string  `json:"name"`
	Value     *string `json:"value,omitempty"`
	Sensitive bool    `json:"sensitive,omitempty"`
	SHA256    string  `json:"sha256"`
}

// SHA256Hex is the hex SHA-256 of b.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// HashVars is the SHA-256 of a host's variable values (sorted by name,
// JSON-encoded, sensitive marks removed): equal values, equal sums.
func HashVars(vars map[string]cty.Value) string {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		v, _ := vars[n].UnmarkDeep()
		var text []byte
		if !v.IsWhollyKnown() {
			text = []byte("(unknown)")
		} else if b, err := ctyjson.Marshal(v, v.Type()); err == nil {
			text = b
		} else {
			text = []byte(v.GoString())
		}
		fmt.Fprintf(h, "%d:%s=%d:%s\n", len(n), n, len(text), text)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ReadReport decodes a report (a plan or an apply) written by --out or
// --json.
func ReadReport(r io.Reader) (*Report, error) {
	var rep Report
	dec := json.NewDecoder(r)
	if err := dec.Decode(&rep); err != nil {
		return nil, err
	}
	if rep.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("format_version %q is not %q: not a report of this smcfleet", rep.FormatVersion, FormatVersion)
	}
	return &rep, nil
}

// driftWords say, per kind, what a changed fingerprint means.
var driftWords = map[string]string{
	"file":        "the file changed since the plan",
	"command":     "the result of its guards changed since the plan",
	"fetch":       "the files changed since the plan (on the host or on the controller)",
	"cert_fetch":  "the certificate chain or its PEM files on the host changed since the plan",
	"trust_store": "the trust store changed since the plan",
	"smc_config":  "the configuration values changed since the plan",
	"http":        "the checked value changed since the plan",
	"tls_probe":   "the endpoint answers differently since the plan",
}

func actionWords(a ActionType) string {
	switch a {
	case ActionNone:
		return "no change"
	case ActionUnknown:
		return "decided during apply"
	}
	return string(a)
}

// Drift compares a host's fresh check (a plan made now) with the saved
// plan, and says in words, per step, what no longer matches. Nothing means
// the host is as it was when the plan was made.
func Drift(saved, now *HostResult) []string {
	if saved.Status == HostUnreachable || saved.Status == HostFailed || saved.Status == HostInterrupted {
		return []string{fmt.Sprintf("the host was %s when the plan was made: the plan holds no changes for it", saved.Status)}
	}
	if len(saved.Steps) != len(now.Steps) {
		return []string{fmt.Sprintf("the plan has %d steps for this host, the playbook now %d", len(saved.Steps), len(now.Steps))}
	}
	var out []string
	for i, s := range saved.Steps {
		n := now.Steps[i]
		if s.Address != n.Address {
			out = append(out, fmt.Sprintf("step %d is %s in the plan, %s now", i+1, s.Address, n.Address))
			continue
		}
		observed := s.Observed != n.Observed
		action := s.Action != n.Action
		var msg string
		switch {
		case observed:
			w := driftWords[s.Kind]
			if w == "" {
				w = "what it checks changed since the plan"
			}
			msg = s.Address + ": " + w
			if action {
				msg += fmt.Sprintf(" (planned: %s; now: %s)", actionWords(s.Action), actionWords(n.Action))
			}
		case action:
			msg = fmt.Sprintf("%s: planned: %s; now: %s", s.Address, actionWords(s.Action), actionWords(n.Action))
		case s.Diff != n.Diff:
			msg = s.Address + ": the change it would make differs from the plan"
		}
		if msg != "" {
			out = append(out, msg)
		}
	}
	return out
}
