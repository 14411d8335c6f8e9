package playbooks

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/smcfleet/smcfleet/internal/lang"
)

// HostType is the type of the `host` object a playbook sees.
var HostType = cty.Object(map[string]cty.Type{
	"name":    cty.String,
	"address": cty.String,
	"groups":  cty.List(cty.String),
	"vars":    cty.DynamicPseudoType,
})

// check validates everything that needs no host: names, references, and
// the types of every step body evaluated with unknown values.
func (pb *Playbook) check() hcl.Diagnostics {
	var diags hcl.Diagnostics

	seen := map[string]*Step{}
	for _, s := range pb.Steps {
		if prev, ok := seen[s.Name]; ok {
			diags = append(diags, duplicate("step", s.Name, s.DeclRange, prev.DeclRange))
			continue
		}
		seen[s.Name] = s
	}
	seenH := map[string]*Step{}
	for _, s := range pb.Handlers {
		if prev, ok := seenH[s.Name]; ok {
			diags = append(diags, duplicate("handler", s.Name, s.DeclRange, prev.DeclRange))
			continue
		}
		seenH[s.Name] = s
	}

	localsOK := true
	for _, l := range pb.Locals {
		for _, tr := range l.Expr.Variables() {
			d := pb.checkRef(tr, refLocal, 0)
			localsOK = localsOK && !d.HasErrors()
			diags = append(diags, d...)
		}
	}
	all := append(append([]*Step{}, pb.Steps...), pb.Handlers...)
	for _, s := range all {
		visible := s.index
		if s.Handler {
			visible = len(pb.Steps)
		}
		s.refsOK = true
		for _, tr := range pb.stepTraversals(s) {
			d := pb.checkRef(tr, refStep, visible)
			s.refsOK = s.refsOK && !d.HasErrors()
			diags = append(diags, d...)
		}
		for _, n := range s.Notify {
			if pb.HandlerByName(n) == nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Unknown handler",
					Detail:   fmt.Sprintf("notify names %q, but no handler has that name.%s", n, didYouMean(n, handlerNames(pb.Handlers))),
					Subject:  s.NotifyRange.Ptr(),
				})
			}
		}
	}
	for _, a := range pb.Asserts {
		a.refsOK = true
		for _, tr := range append(a.Condition.Variables(), a.ErrorMessage.Variables()...) {
			d := pb.checkRef(tr, refLocal, 0)
			a.refsOK = a.refsOK && !d.HasErrors()
			diags = append(diags, d...)
		}
	}
	for _, o := range pb.Outputs {
		if o.Value == nil {
			continue
		}
		o.refsOK = true
		for _, tr := range o.Value.Variables() {
			d := pb.checkRef(tr, refStep, len(pb.Steps))
			o.refsOK = o.refsOK && !d.HasErrors()
			diags = append(diags, d...)
		}
	}
	if !localsOK {
		return diags
	}
	return append(diags, pb.typeCheck()...)
}

func handlerNames(hs []*Step) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

// stepTraversals lists every reference in a step: its when condition and
// the kind-specific body.
func (pb *Playbook) stepTraversals(s *Step) []hcl.Traversal {
	var out []hcl.Traversal
	if s.When != nil {
		out = append(out, s.When.Variables()...)
	}
	if k, ok := pb.opts.Kinds[s.Kind]; ok {
		out = append(out, hcldec.Variables(s.Body, k.Spec)...)
	}
	return out
}

type refContext int

const (
	refLocal refContext = iota
	refStep
)

func (pb *Playbook) checkRef(tr hcl.Traversal, where refContext, visibleSteps int) hcl.Diagnostics {
	bad := func(summary, detail string, rng hcl.Range) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}}
	}
	attrName := func(i int) (string, bool) {
		if len(tr) <= i {
			return "", false
		}
		switch t := tr[i].(type) {
		case hcl.TraverseAttr:
			return t.Name, true
		case hcl.TraverseIndex:
			if t.Key.Type() == cty.String {
				return t.Key.AsString(), true
			}
		}
		return "", false
	}
	rng := tr.SourceRange()
	switch root := tr.RootName(); root {
	case "var":
		name, ok := attrName(1)
		if !ok {
			return bad("Invalid reference", "Refer to a variable as var.NAME.", rng)
		}
		if pb.varByName[name] == nil {
			var names []string
			for _, v := range pb.Variables {
				names = append(names, v.Name)
			}
			return bad("Reference to undeclared variable",
				fmt.Sprintf("No variable %q is declared. Declare it with a variable %q block.%s", name, name, didYouMean(name, names)), rng)
		}
	case "local":
		name, ok := attrName(1)
		if !ok {
			return bad("Invalid reference", "Refer to a local value as local.NAME.", rng)
		}
		var names []string
		found := false
		for _, l := range pb.Locals {
			names = append(names, l.Name)
			found = found || l.Name == name
		}
		if !found {
			return bad("Reference to undeclared local value",
				fmt.Sprintf("No local value %q is declared in a locals block.%s", name, didYouMean(name, names)), rng)
		}
	case "host":
		if len(tr) == 1 {
			return nil
		}
		name, ok := attrName(1)
		if _, known := HostType.AttributeTypes()[name]; !ok || !known {
			return bad("Unsupported attribute of host",
				fmt.Sprintf("host has the attributes name, address, groups and vars; %q is not one of them. Inventory variables are host.vars.NAME.", name), rng)
		}
	case "step":
		if where == refLocal {
			return bad("Invalid reference", "Local values are evaluated before any step runs and cannot refer to step outputs.", rng)
		}
		name, ok := attrName(1)
		if !ok {
			return bad("Invalid reference", "Refer to a step's outputs as step.NAME.OUTPUT.", rng)
		}
		target := pb.StepByName(name)
		if target == nil {
			var names []string
			for _, s := range pb.Steps {
				names = append(names, s.Name)
			}
			return bad("Reference to undeclared step",
				fmt.Sprintf("No step named %q is declared.%s", name, didYouMean(name, names)), rng)
		}
		if target.index >= visibleSteps {
			return bad("Reference to a step that has not run yet",
				fmt.Sprintf("step %q runs at or after this one; a step can only use the outputs of steps before it.", name), rng)
		}
		out, ok := attrName(2)
		if !ok {
			return nil
		}
		outputs := pb.opts.Kinds[target.Kind].Outputs
		if outputs.IsObjectType() && !outputs.HasAttribute(out) {
			var names []string
			for n := range outputs.AttributeTypes() {
				names = append(names, n)
			}
			sort.Strings(names)
			return bad("Unsupported step output",
				fmt.Sprintf("A %s step has the outputs %s; %q is not one of them.", target.Kind, strings.Join(names, ", "), out), rng)
		}
	default:
		return bad("Unknown reference",
			fmt.Sprintf("%q is not something a playbook can refer to. Use var.NAME, local.NAME, host.ATTR or step.NAME.OUTPUT.", root), rng)
	}
	return nil
}

// typeCheck evaluates locals and step bodies with every host- and
// run-dependent value unknown, which reports type mismatches and literal
// errors before any host is contacted.
func (pb *Playbook) typeCheck() hcl.Diagnostics {
	vars := map[string]cty.Value{}
	for _, v := range pb.Variables {
		val := cty.UnknownVal(v.Type)
		if v.Sensitive {
			val = val.Mark(lang.Sensitive)
		}
		vars[v.Name] = val
	}
	sc := &Scope{
		pb:     pb,
		vars:   vars,
		host:   cty.UnknownVal(HostType),
		steps:  map[string]cty.Value{},
		funcs:  lang.Functions(pb.opts.BaseDir, pb.opts.Getenv),
		locals: map[string]cty.Value{},
	}
	diags := sc.evalLocals()
	if diags.HasErrors() {
		return diags
	}
	for _, s := range pb.Steps {
		diags = append(diags, sc.typeCheckStep(s)...)
		sc.steps[s.Name] = cty.UnknownVal(pb.opts.Kinds[s.Kind].Outputs)
	}
	for _, s := range pb.Handlers {
		diags = append(diags, sc.typeCheckStep(s)...)
	}
	for _, a := range pb.Asserts {
		if a.refsOK {
			_, d := sc.Assert(a)
			diags = append(diags, d...)
		}
	}
	for _, o := range pb.Outputs {
		if o.Value != nil && o.refsOK {
			_, d := sc.Output(o)
			diags = append(diags, d...)
		}
	}
	return diags
}

func (sc *Scope) typeCheckStep(s *Step) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if !s.refsOK {
		return nil
	}
	if s.When != nil {
		_, _, d := sc.When(s)
		diags = append(diags, d...)
	}
	if _, ok := sc.pb.opts.Kinds[s.Kind]; ok && s.structureOK {
		_, d := sc.Decode(s)
		diags = append(diags, d...)
	}
	return diags
}

// didYouMean suggests the closest of candidates to got, or returns "".
func didYouMean(got string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(got, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

// convertBool converts a condition result; unknown stays unknown.
func convertBool(v cty.Value) (cty.Value, error) {
	v, _ = v.UnmarkDeep()
	return convert.Convert(v, cty.Bool)
}
