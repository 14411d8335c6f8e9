package playbooks

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/smcfleet/smcfleet/internal/lang"
)

// HostInfo is what a playbook may know of the host it runs on.
type HostInfo struct {
	Name    string
	Address string
	Groups  []string
	Vars    map[string]cty.Value
}

func (h HostInfo) value() cty.Value {
	groups := cty.ListValEmpty(cty.String)
	if len(h.Groups) > 0 {
		var gs []cty.Value
		for _, g := range h.Groups {
			gs = append(gs, cty.StringVal(g))
		}
		groups = cty.ListVal(gs)
	}
	vars := cty.EmptyObjectVal
	if len(h.Vars) > 0 {
		vars = cty.ObjectVal(h.Vars)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"name":    cty.StringVal(h.Name),
		"address": cty.StringVal(h.Address),
		"groups":  groups,
		"vars":    vars,
	})
}

// Scope evaluates a playbook for one host: variables, locals, the host
// object, and the outputs of steps that have run so far.
type Scope struct {
	pb     *Playbook
	vars   map[string]cty.Value
	locals map[string]cty.Value
	host   cty.Value
	steps  map[string]cty.Value
	funcs  map[string]function.Function
	// secrets are the values env() and file() returned while evaluating.
	secrets []string
}

// NewScope prepares the evaluation of pb on one host. vars must hold a value
// for every declared variable (see VarSet.ForHost).
func (pb *Playbook) NewScope(h HostInfo, vars map[string]cty.Value) (*Scope, hcl.Diagnostics) {
	sc := &Scope{
		pb:     pb,
		vars:   vars,
		host:   h.value(),
		steps:  map[string]cty.Value{},
		locals: map[string]cty.Value{},
	}
	sc.funcs = lang.FunctionsWithHook(pb.opts.BaseDir, pb.opts.Getenv, func(s string) {
		sc.secrets = append(sc.secrets, s)
	})
	return sc, sc.evalLocals()
}

// TakeSecrets returns the secrets read by env() and file() since the last
// call, for redaction.
func (sc *Scope) TakeSecrets() []string {
	s := sc.secrets
	sc.secrets = nil
	return s
}

// SetOutputs records a step's outputs for the steps after it.
func (sc *Scope) SetOutputs(stepName string, outputs cty.Value) {
	sc.steps[stepName] = outputs
}

// EvalContext is the context step bodies are evaluated in.
func (sc *Scope) EvalContext() *hcl.EvalContext {
	obj := func(m map[string]cty.Value) cty.Value {
		if len(m) == 0 {
			return cty.EmptyObjectVal
		}
		return cty.ObjectVal(m)
	}
	steps := map[string]cty.Value{}
	for _, s := range sc.pb.Steps {
		if v, ok := sc.steps[s.Name]; ok {
			steps[s.Name] = v
		} else {
			// Not run (yet, or skipped): outputs are unknown; the loader
			// already refused references to later steps.
			steps[s.Name] = cty.UnknownVal(sc.pb.opts.Kinds[s.Kind].Outputs)
		}
	}
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":   obj(sc.vars),
			"local": obj(sc.locals),
			"host":  sc.host,
			"step":  obj(steps),
		},
		Functions: sc.funcs,
	}
}

// When evaluates a step's condition. known is false when the condition
// depends on values only an apply would produce.
func (sc *Scope) When(s *Step) (run, known bool, diags hcl.Diagnostics) {
	if s.When == nil {
		return true, true, nil
	}
	v, diags := s.When.Value(sc.EvalContext())
	if diags.HasErrors() {
		return false, false, diags
	}
	b, err := convertBool(v)
	if err != nil || (b.IsKnown() && b.IsNull()) {
		return false, false, hcl.Diagnostics{{
			Severity:    hcl.DiagError,
			Summary:     "Invalid when condition",
			Detail:      fmt.Sprintf("when must be true or false, not %s.", describeType(v)),
			Subject:     s.When.Range().Ptr(),
			Expression:  s.When,
			EvalContext: sc.EvalContext(),
		}}
	}
	if !b.IsKnown() {
		return false, false, nil
	}
	return b.True(), true, nil
}

// Decode evaluates the kind-specific body of s. The result may contain
// unknown values during a plan, and keeps sensitive marks.
func (sc *Scope) Decode(s *Step) (cty.Value, hcl.Diagnostics) {
	k := sc.pb.opts.Kinds[s.Kind]
	return hcldec.Decode(s.Body, k.Spec, sc.EvalContext())
}

func (sc *Scope) evalLocals() hcl.Diagnostics {
	pending := append([]*Local{}, sc.pb.Locals...)
	for len(pending) > 0 {
		var next []*Local
		var diags hcl.Diagnostics
		for _, l := range pending {
			ready := true
			for _, tr := range l.Expr.Variables() {
				if tr.RootName() != "local" || len(tr) < 2 {
					continue
				}
				if a, ok := tr[1].(hcl.TraverseAttr); ok {
					if _, done := sc.locals[a.Name]; !done {
						ready = false
					}
				}
			}
			if !ready {
				next = append(next, l)
				continue
			}
			v, d := l.Expr.Value(sc.EvalContext())
			diags = append(diags, d...)
			if d.HasErrors() {
				v = cty.DynamicVal
			}
			sc.locals[l.Name] = v
		}
		if diags.HasErrors() {
			return diags
		}
		if len(next) == len(pending) {
			for _, l := range next {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Cycle in local values",
					Detail:   fmt.Sprintf("local.%s depends, directly or not, on itself.", l.Name),
					Subject:  l.DeclRange.Ptr(),
				})
			}
			return diags
		}
		pending = next
	}
	return nil
}

func describeType(v cty.Value) string {
	if v.IsNull() {
		return "null"
	}
	return v.Type().FriendlyName()
}

// Assert evaluates an assert block; ok is false (with a diagnostic naming
// the host's values) when its condition does not hold. An unknown
// condition (type checking) passes.
func (sc *Scope) Assert(a *Assert) (bool, hcl.Diagnostics) {
	ctx := sc.EvalContext()
	v, diags := a.Condition.Value(ctx)
	if diags.HasErrors() {
		return false, diags
	}
	b, err := convertBool(v)
	if err != nil || (b.IsKnown() && b.IsNull()) {
		return false, hcl.Diagnostics{{
			Severity: hcl.DiagError, Summary: "Invalid assert condition",
			Detail: "The condition must give true or false.", Subject: a.Condition.Range().Ptr(),
		}}
	}
	if !b.IsKnown() || b.True() {
		return true, nil
	}
	msg, d := a.ErrorMessage.Value(ctx)
	text := "the assertion " + a.Name + " does not hold"
	if !d.HasErrors() {
		if m := lang.Redact(msg); m.Type() == cty.String && m.IsKnown() && !m.IsNull() {
			text = m.AsString()
		}
	}
	return false, hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Assertion failed: " + a.Name,
		Detail:   text,
		Subject:  a.Condition.Range().Ptr(),
	}}
}

// CheckAsserts evaluates every assert block for one host.
func (pb *Playbook) CheckAsserts(h HostInfo, vars map[string]cty.Value) hcl.Diagnostics {
	if len(pb.Asserts) == 0 {
		return nil
	}
	sc, diags := pb.NewScope(h, vars)
	if diags.HasErrors() {
		return diags
	}
	for _, a := range pb.Asserts {
		_, d := sc.Assert(a)
		diags = append(diags, d...)
	}
	return diags
}

// Output evaluates an output block with what the run learnt so far.
func (sc *Scope) Output(o *Output) (cty.Value, hcl.Diagnostics) {
	v, diags := o.Value.Value(sc.EvalContext())
	if o.Sensitive {
		v = v.Mark(lang.Sensitive)
	}
	return v, diags
}

// WithUnknowns returns vars with an unknown value of the declared type for
// every variable that has none (missing or invalid), for checks that should
// still run and pass over what they cannot know.
func (pb *Playbook) WithUnknowns(vars map[string]cty.Value) map[string]cty.Value {
	out := make(map[string]cty.Value, len(pb.Variables))
	for _, v := range pb.Variables {
		if val, ok := vars[v.Name]; ok {
			out[v.Name] = val
		} else {
			out[v.Name] = cty.UnknownVal(v.Type)
		}
	}
	return out
}
