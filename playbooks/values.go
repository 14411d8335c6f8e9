package playbooks

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/smcfleet/smcfleet/internal/lang"
)

// EnvVarPrefix prefixes environment variables that set playbook variables:
// SMCFLEET_VAR_region sets var.region.
const EnvVarPrefix = "SMCFLEET_VAR_"

// VarInputs are the run-wide sources of variable values. Precedence, lowest
// first: the variable's default, SMCFLEET_VAR_<name>, the host's inventory
// vars (defaults < groups < host), --var-file files in order, --var flags in
// order.
type VarInputs struct {
	Assignments []string // --var name=value
	Files       []string // --var-file paths (.hcl or .json)
	Getenv      func(string) (string, bool)
}

// Source says where a variable's value came from.
type Source string

const (
	SourceDefault   Source = "default"
	SourceEnv       Source = "environment"
	SourceInventory Source = "inventory"
	SourceVarFile   Source = "var-file"
	SourceFlag      Source = "--var"
)

type assigned struct {
	val    cty.Value
	raw    *string // a string from the command line or environment, typed late
	source Source
	rng    *hcl.Range
}

// VarSet holds run-wide variable inputs, ready to be merged per host.
type VarSet struct {
	pb    *Playbook
	env   map[string]assigned
	files map[string]assigned
	flags map[string]assigned
	// Files are the parsed var files, for diagnostic snippets.
	Files map[string]*hcl.File
}

// PrepareVars parses --var, --var-file and SMCFLEET_VAR_* once per run.
func (pb *Playbook) PrepareVars(in VarInputs) (*VarSet, hcl.Diagnostics) {
	getenv := in.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	vs := &VarSet{
		pb:    pb,
		env:   map[string]assigned{},
		files: map[string]assigned{},
		flags: map[string]assigned{},
		Files: map[string]*hcl.File{},
	}
	var diags hcl.Diagnostics
	for _, v := range pb.Variables {
		if raw, ok := getenv(EnvVarPrefix + v.Name); ok {
			r := raw
			vs.env[v.Name] = assigned{raw: &r, source: SourceEnv}
		}
	}
	for _, f := range in.Files {
		diags = append(diags, vs.readVarFile(f)...)
	}
	for _, a := range in.Assignments {
		name, value, ok := strings.Cut(a, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid --var option",
				Detail:   fmt.Sprintf("%q is not of the form name=value.", a),
			})
			continue
		}
		if pb.varByName[name] == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("--var sets %q, but the playbook declares no such variable.%s", name, didYouMean(name, pb.variableNames())),
			})
			continue
		}
		v := value
		vs.flags[name] = assigned{raw: &v, source: SourceFlag}
	}
	return vs, diags
}

func (pb *Playbook) variableNames() []string {
	var out []string
	for _, v := range pb.Variables {
		out = append(out, v.Name)
	}
	return out
}

func (vs *VarSet) readVarFile(path string) hcl.Diagnostics {
	p := hclparse.NewParser()
	var file *hcl.File
	var diags hcl.Diagnostics
	if strings.HasSuffix(path, ".json") {
		file, diags = p.ParseJSONFile(path)
	} else {
		file, diags = p.ParseHCLFile(path)
	}
	if file == nil || diags.HasErrors() {
		if file == nil && len(diags) == 0 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read var file", Detail: path})
		}
		return diags
	}
	vs.Files[path] = file
	attrs, d := file.Body.JustAttributes()
	diags = append(diags, d...)
	ctx := &hcl.EvalContext{Functions: lang.Functions(filepath.Dir(path), vs.pb.opts.Getenv)}
	var names []string
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		a := attrs[name]
		if vs.pb.varByName[name] == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("The var file sets %q, but the playbook declares no such variable; it is ignored.", name),
				Subject:  a.NameRange.Ptr(),
			})
			continue
		}
		val, d := a.Expr.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		vs.files[name] = assigned{val: val, source: SourceVarFile, rng: a.Expr.Range().Ptr()}
	}
	return diags
}

// ForHost resolves every declared variable for one host, converts it to its
// declared type, marks sensitive variables, and runs validations.
func (vs *VarSet) ForHost(hostName string, inventoryVars map[string]cty.Value) (map[string]cty.Value, map[string]Source, hcl.Diagnostics) {
	out := map[string]cty.Value{}
	sources := map[string]Source{}
	var diags hcl.Diagnostics
	for _, v := range vs.pb.Variables {
		var chosen *assigned
		if v.Default != cty.NilVal {
			chosen = &assigned{val: v.Default, source: SourceDefault}
		}
		if a, ok := vs.env[v.Name]; ok {
			chosen = &a
		}
		if iv, ok := inventoryVars[v.Name]; ok {
			chosen = &assigned{val: iv, source: SourceInventory}
		}
		if a, ok := vs.files[v.Name]; ok {
			chosen = &a
		}
		if a, ok := vs.flags[v.Name]; ok {
			chosen = &a
		}
		if chosen == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No value for required variable",
				Detail: fmt.Sprintf("var.%s has no default and no value. Set it with --var %s=..., a --var-file, the environment variable %s%s, or the inventory vars.",
					v.Name, v.Name, EnvVarPrefix, v.Name),
				Subject: v.DeclRange.Ptr(),
			})
			continue
		}
		val, d := vs.typed(v, *chosen, hostName)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if v.Sensitive {
			val = val.Mark(lang.Sensitive)
		}
		out[v.Name] = val
		sources[v.Name] = chosen.source
		diags = append(diags, vs.validate(v, val, chosen.source, hostName)...)
	}
	return out, sources, diags
}

func (vs *VarSet) typed(v *Variable, a assigned, hostName string) (cty.Value, hcl.Diagnostics) {
	where := string(a.source)
	if a.source == SourceEnv {
		where = EnvVarPrefix + v.Name
	}
	if a.source == SourceInventory {
		where = "the inventory vars of " + hostName
	}
	val := a.val
	if a.raw != nil {
		if v.Type == cty.String || v.Type == cty.DynamicPseudoType {
			val = cty.StringVal(*a.raw)
		} else {
			expr, d := hclsyntax.ParseExpression([]byte(*a.raw), where, hcl.InitialPos)
			if !d.HasErrors() {
				val, d = expr.Value(nil)
			}
			if d.HasErrors() {
				shown := fmt.Sprintf("%q", *a.raw)
				if v.Sensitive {
					shown = "the value"
				}
				return cty.NilVal, hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  "Invalid value for variable",
					Detail: fmt.Sprintf("var.%s from %s must be %s: %s is not such a value (write it as an HCL literal, e.g. [\"a\", \"b\"] for a list).",
						v.Name, where, typeexpr.TypeString(v.Type), shown),
					Subject: v.DeclRange.Ptr(),
				}}
			}
		}
	}
	unmarked, marks := val.UnmarkDeepWithPaths()
	conv, err := convert.Convert(unmarked, v.Type)
	if err != nil {
		subject := v.DeclRange.Ptr()
		if a.rng != nil {
			subject = a.rng
		}
		return cty.NilVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("var.%s from %s must be %s: %s.", v.Name, where, typeexpr.TypeString(v.Type), err),
			Subject:  subject,
		}}
	}
	if conv.Type().Equals(unmarked.Type()) {
		conv = conv.MarkWithPaths(marks)
	} else if lang.IsSensitive(val) {
		conv = conv.Mark(lang.Sensitive)
	}
	return conv, nil
}

func (vs *VarSet) validate(v *Variable, val cty.Value, src Source, hostName string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.Name: val})},
		Functions: lang.Functions(vs.pb.opts.BaseDir, vs.pb.opts.Getenv),
	}
	for _, rule := range v.Validations {
		res, d := rule.Condition.Value(ctx)
		if d.HasErrors() {
			diags = append(diags, d...)
			continue
		}
		ok, err := convertBool(res)
		if err != nil || !ok.IsKnown() || ok.IsNull() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid validation condition",
				Detail:   "The condition must give true or false.",
				Subject:  rule.Condition.Range().Ptr(),
			})
			continue
		}
		if ok.True() {
			continue
		}
		msg, d := rule.ErrorMessage.Value(ctx)
		text := "the value is not valid"
		if !d.HasErrors() {
			if m, err := convert.Convert(lang.Redact(msg), cty.String); err == nil && m.IsKnown() && !m.IsNull() {
				text = m.AsString()
			}
		}
		detail := fmt.Sprintf("var.%s: %s", v.Name, text)
		if src == SourceInventory {
			detail += fmt.Sprintf(" (value from the inventory vars of %s)", hostName)
		} else {
			detail += fmt.Sprintf(" (value from %s)", src)
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   detail,
			Subject:  rule.Condition.Range().Ptr(),
		})
	}
	return diags
}

// Dedupe removes diagnostics repeated for several hosts.
func Dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	seen := map[string]bool{}
	var out hcl.Diagnostics
	for _, d := range diags {
		key := fmt.Sprintf("%d|%s|%s|%v", d.Severity, d.Summary, d.Detail, d.Subject)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, d)
	}
	return out
}
