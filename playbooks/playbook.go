// Package playbooks is the smcfleet playbook language: HCL files of
// variables, locals, steps and handlers. Loading checks everything that can
// be checked without a host (blocks, attributes, step kinds, references,
// types, names); step bodies are kept as raw HCL and evaluated late, once per
// host, by a Scope.
package playbooks

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// KindSchema is what the playbook language needs to know about a step kind
// to check a body before any host is contacted.
type KindSchema struct {
	// Spec decodes the kind-specific attributes and blocks of a step body.
	Spec hcldec.Spec
	// Outputs is the object type later steps see as step.NAME.
	Outputs cty.Type
}

// Options configures loading.
type Options struct {
	// Kinds are the step kinds a playbook may use, by name.
	Kinds map[string]KindSchema
	// Getenv looks up environment variables for env(); nil means the
	// process environment.
	Getenv func(string) (string, bool)
	// BaseDir resolves relative paths given to file(); "" means the
	// directory of the playbook.
	BaseDir string
}

// Playbook is a loaded, checked playbook.
type Playbook struct {
	// Path is what the user gave: a file or a directory.
	Path string
	// Dir is the directory relative paths in the playbook resolve against.
	Dir string
	// Description comes from the optional playbook block.
	Description string
	// Rollout holds the playbook block's defaults for apply's rollout
	// flags (--batch, --max-fail, --canary, --pause); flags win.
	Rollout   RolloutDefaults
	Variables []*Variable
	Locals    []*Local
	Steps     []*Step
	Handlers  []*Step
	// Outputs are printed after a run (per host, once when all agree).
	Outputs []*Output
	// Asserts are checked per host before anything connects.
	Asserts []*Assert
	// Files holds the parsed sources, for diagnostic snippets.
	Files map[string]*hcl.File

	opts      Options
	sources   map[string][]byte
	varByName map[string]*Variable
}

// Variable is a `variable "name"` block.
type Variable struct {
	Name        string
	Type        cty.Type
	Default     cty.Value // cty.NilVal when there is none
	Description string
	Sensitive   bool
	Validations []*Validation
	DeclRange   hcl.Range
}

// Validation is a `validation` block inside a variable.
type Validation struct {
	Condition    hcl.Expression
	ErrorMessage hcl.Expression
	DeclRange    hcl.Range
}

// Output is an `output "name"` block: a value shown after the run, such as
// the manual step left to the operator.
type Output struct {
	Name        string
	Value       hcl.Expression
	Description string
	Sensitive   bool
	DeclRange   hcl.Range
	refsOK      bool
}

// Assert is an `assert "name"` block: a condition over variables, locals
// and the host, checked before anything connects (for rules that span
// several variables, which a variable's own validation cannot see).
type Assert struct {
	Name         string
	Condition    hcl.Expression
	ErrorMessage hcl.Expression
	DeclRange    hcl.Range
	refsOK       bool
}

// Local is one attribute of a `locals` block.
type Local struct {
	Name      string
	Expr      hcl.Expression
	DeclRange hcl.Range
}

// Step is a `step "KIND" "NAME"` or `handler "KIND" "NAME"` block.
type Step struct {
	Kind        string
	Name        string
	Handler     bool
	Description string
	When        hcl.Expression // nil: always
	WhenText    string         // source text of When, for skip reasons
	Notify      []string
	NotifyRange hcl.Range
	Timeout     time.Duration // 0: the runner's default
	Body        hcl.Body      // the kind-specific rest of the block
	DeclRange   hcl.Range
	index       int
	structureOK bool
	refsOK      bool
}

// Address is how the step is named in plans and reports: KIND.NAME.
func (s *Step) Address() string {
	if s.Handler {
		return "handler." + s.Kind + "." + s.Name
	}
	return s.Kind + "." + s.Name
}

var nameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

var fileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "playbook"},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "step", LabelNames: []string{"kind", "name"}},
		{Type: "handler", LabelNames: []string{"kind", "name"}},
		{Type: "output", LabelNames: []string{"name"}},
		{Type: "assert", LabelNames: []string{"name"}},
	},
}

var outputSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "value", Required: true}, {Name: "description"}, {Name: "sensitive"},
	},
}

var assertSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true}, {Name: "error_message", Required: true},
	},
}

var playbookBlockSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "description"},
		{Name: "batch"}, {Name: "max_fail"}, {Name: "canary"}, {Name: "pause"},
	},
}

// RolloutDefaults are the rollout settings a playbook block may give, as
// the flags spell them ("" when unset): batch and max_fail "N" or "N%",
// canary "N", pause a duration such as "30s".
type RolloutDefaults struct {
	Batch, MaxFail, Canary, Pause string
}

var (
	countOrPercentRe = regexp.MustCompile(`^[0-9]+%?$`)
	countRe          = regexp.MustCompile(`^[0-9]+$`)
)

// rolloutValue reads a playbook block attribute given as a literal string
// or whole number.
func rolloutValue(a *hcl.Attribute, re *regexp.Regexp, what string) (string, hcl.Diagnostics) {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return "", diags
	}
	bad := hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid " + a.Name,
		Detail:   fmt.Sprintf("%s must be %s.", a.Name, what),
		Subject:  a.Expr.Range().Ptr(),
	}}
	var text string
	switch {
	case v.IsNull() || !v.IsKnown():
		return "", bad
	case v.Type() == cty.Number:
		bf := v.AsBigFloat()
		if !bf.IsInt() {
			return "", bad
		}
		text = bf.Text('f', 0)
	case v.Type() == cty.String:
		text = strings.TrimSpace(v.AsString())
	default:
		return "", bad
	}
	if re != nil && !re.MatchString(text) {
		return "", bad
	}
	if re == nil {
		if d, err := time.ParseDuration(text); err != nil || d < 0 {
			return "", bad
		}
	}
	return text, nil
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true},
		{Name: "error_message", Required: true},
	},
}

var stepCommonSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "description"}, {Name: "when"}, {Name: "notify"}, {Name: "timeout"},
	},
}

// Load reads a playbook from a .hcl file or a directory of them on disk.
func Load(p string, opts Options) (*Playbook, hcl.Diagnostics) {
	return LoadFS(osFS{}, p, opts)
}

// LoadFS reads a playbook from fsys: p names one .hcl file or a directory
// whose *.hcl files (sorted by name) form one playbook.
func LoadFS(fsys fs.FS, p string, opts Options) (*Playbook, hcl.Diagnostics) {
	pb := &Playbook{
		Path:      p,
		Files:     map[string]*hcl.File{},
		opts:      opts,
		sources:   map[string][]byte{},
		varByName: map[string]*Variable{},
	}
	clean := path.Clean(p)
	st, err := fs.Stat(fsys, clean)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read playbook",
			Detail:   fmt.Sprintf("%s: %v. Give the path of a .hcl file or of a directory of .hcl files.", p, errText(err)),
		}}
	}
	var files []string
	if st.IsDir() {
		pb.Dir = clean
		entries, err := fs.ReadDir(fsys, clean)
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read playbook directory", Detail: err.Error()}}
		}
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".hcl") {
				files = append(files, path.Join(clean, e.Name()))
			}
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Empty playbook directory", Detail: fmt.Sprintf("%s holds no .hcl file.", p)}}
		}
	} else {
		pb.Dir = path.Dir(clean)
		files = []string{clean}
	}
	if opts.BaseDir == "" {
		pb.opts.BaseDir = pb.Dir
	}

	var diags hcl.Diagnostics
	var bodies []hcl.Body
	for _, f := range files {
		src, err := fs.ReadFile(fsys, f)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read playbook file", Detail: err.Error()})
			continue
		}
		file, d := hclsyntax.ParseConfig(src, f, hcl.InitialPos)
		pb.Files[f] = file
		pb.sources[f] = src
		diags = append(diags, d...)
		if file != nil && !d.HasErrors() {
			bodies = append(bodies, file.Body)
		}
	}
	if diags.HasErrors() {
		return pb, diags
	}
	for _, body := range bodies {
		diags = append(diags, pb.decodeFile(body)...)
	}
	diags = append(diags, pb.check()...)
	return pb, diags
}

func (pb *Playbook) decodeFile(body hcl.Body) hcl.Diagnostics {
	content, diags := body.Content(fileSchema)
	for _, block := range content.Blocks {
		switch block.Type {
		case "playbook":
			diags = append(diags, pb.decodePlaybookBlock(block)...)
		case "variable":
			v, d := decodeVariable(block)
			diags = append(diags, d...)
			if v == nil {
				continue
			}
			if prev, ok := pb.varByName[v.Name]; ok {
				diags = append(diags, duplicate("variable", v.Name, block.LabelRanges[0], prev.DeclRange))
				continue
			}
			pb.varByName[v.Name] = v
			pb.Variables = append(pb.Variables, v)
		case "locals":
			attrs, d := block.Body.JustAttributes()
			diags = append(diags, d...)
			var names []string
			for name := range attrs {
				names = append(names, name)
			}
			sort.Slice(names, func(i, j int) bool {
				return attrs[names[i]].Range.Start.Byte < attrs[names[j]].Range.Start.Byte
			})
			for _, name := range names {
				a := attrs[name]
				for _, l := range pb.Locals {
					if l.Name == name {
						diags = append(diags, duplicate("local value", name, a.NameRange, l.DeclRange))
					}
				}
				pb.Locals = append(pb.Locals, &Local{Name: name, Expr: a.Expr, DeclRange: a.NameRange})
			}
		case "output":
			o, d := decodeOutput(block)
			diags = append(diags, d...)
			for _, prev := range pb.Outputs {
				if prev.Name == o.Name {
					diags = append(diags, duplicate("output", o.Name, block.LabelRanges[0], prev.DeclRange))
				}
			}
			pb.Outputs = append(pb.Outputs, o)
		case "assert":
			content, d := block.Body.Content(assertSchema)
			diags = append(diags, d...)
			if !d.HasErrors() {
				pb.Asserts = append(pb.Asserts, &Assert{
					Name:         block.Labels[0],
					Condition:    content.Attributes["condition"].Expr,
					ErrorMessage: content.Attributes["error_message"].Expr,
					DeclRange:    block.DefRange,
				})
			}
		case "step", "handler":
			s, d := pb.decodeStep(block)
			diags = append(diags, d...)
			if s == nil {
				continue
			}
			if s.Handler {
				pb.Handlers = append(pb.Handlers, s)
			} else {
				s.index = len(pb.Steps)
				pb.Steps = append(pb.Steps, s)
			}
		}
	}
	return diags
}

func (pb *Playbook) decodePlaybookBlock(block *hcl.Block) hcl.Diagnostics {
	content, diags := block.Body.Content(playbookBlockSchema)
	if a, ok := content.Attributes["description"]; ok {
		var d hcl.Diagnostics
		pb.Description, d = staticString(a.Expr)
		diags = append(diags, d...)
	}
	for _, f := range []struct {
		name string
		dst  *string
		re   *regexp.Regexp
		what string
	}{
		{"batch", &pb.Rollout.Batch, countOrPercentRe, `a number of hosts or a percentage, such as 2 or "25%"`},
		{"max_fail", &pb.Rollout.MaxFail, countOrPercentRe, `a number of hosts or a percentage, such as 1 or "10%"`},
		{"canary", &pb.Rollout.Canary, countRe, "a number of hosts"},
		{"pause", &pb.Rollout.Pause, nil, `a duration such as "30s"`},
	} {
		if a, ok := content.Attributes[f.name]; ok {
			v, d := rolloutValue(a, f.re, f.what)
			diags = append(diags, d...)
			*f.dst = v
		}
	}
	return diags
}

func (pb *Playbook) decodeStep(block *hcl.Block) (*Step, hcl.Diagnostics) {
	s := &Step{
		Kind:      block.Labels[0],
		Name:      block.Labels[1],
		Handler:   block.Type == "handler",
		DeclRange: block.DefRange,
	}
	var diags hcl.Diagnostics
	if !nameRe.MatchString(s.Name) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + block.Type + " name",
			Detail:   fmt.Sprintf("%q is not a valid name: use letters, digits, underscores and dashes, starting with a letter or underscore.", s.Name),
			Subject:  block.LabelRanges[1].Ptr(),
		})
	}
	kind, ok := pb.opts.Kinds[s.Kind]
	if !ok {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown step kind",
			Detail:   fmt.Sprintf("There is no step kind %q. Known kinds: %s.%s", s.Kind, strings.Join(pb.kindNames(), ", "), didYouMean(s.Kind, pb.kindNames())),
			Subject:  block.LabelRanges[0].Ptr(),
		})
	}
	content, rest, d := block.Body.PartialContent(stepCommonSchema)
	diags = append(diags, d...)
	s.Body = rest
	if a, ok := content.Attributes["description"]; ok {
		var d hcl.Diagnostics
		s.Description, d = staticString(a.Expr)
		diags = append(diags, d...)
	}
	if a, ok := content.Attributes["when"]; ok {
		s.When = a.Expr
		s.WhenText = pb.sourceText(a.Expr.Range())
	}
	if a, ok := content.Attributes["notify"]; ok {
		names, d := staticStringList(a.Expr)
		diags = append(diags, d...)
		s.Notify = names
		s.NotifyRange = a.Expr.Range()
	}
	if a, ok := content.Attributes["timeout"]; ok {
		text, d := staticString(a.Expr)
		diags = append(diags, d...)
		if !d.HasErrors() {
			dur, err := time.ParseDuration(text)
			if err != nil || dur <= 0 {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid timeout",
					Detail:   fmt.Sprintf("%q is not a positive duration such as \"30s\" or \"5m\".", text),
					Subject:  a.Expr.Range().Ptr(),
				})
			}
			s.Timeout = dur
		}
	}
	if ok {
		// Unsupported and missing arguments need no evaluation: report
		// them now, with every other problem.
		_, d := rest.Content(hcldec.ImpliedSchema(kind.Spec))
		diags = append(diags, d...)
		s.structureOK = !d.HasErrors()
	}
	return s, diags
}

func (pb *Playbook) kindNames() []string {
	var names []string
	for n := range pb.opts.Kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// sourceText returns the source bytes of rng, for messages such as
// "skipped: when `var.x` is false".
func (pb *Playbook) sourceText(rng hcl.Range) string {
	src := pb.sources[rng.Filename]
	if rng.End.Byte > len(src) || rng.Start.Byte > rng.End.Byte {
		return ""
	}
	return string(src[rng.Start.Byte:rng.End.Byte])
}

// Variable returns the declared variable name, or nil.
func (pb *Playbook) Variable(name string) *Variable { return pb.varByName[name] }

// StepByName returns the step (not handler) called name, or nil.
func (pb *Playbook) StepByName(name string) *Step {
	for _, s := range pb.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// HandlerByName returns the handler called name, or nil.
func (pb *Playbook) HandlerByName(name string) *Step {
	for _, s := range pb.Handlers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// KindSchema returns the schema of s's kind.
func (pb *Playbook) KindSchema(s *Step) KindSchema { return pb.opts.Kinds[s.Kind] }

func duplicate(what, name string, subject, prev hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Duplicate " + what,
		Detail:   fmt.Sprintf("A %s named %q was already declared at %s. Names must be unique.", what, name, prev),
		Subject:  subject.Ptr(),
	}
}

func staticString(expr hcl.Expression) (string, hcl.Diagnostics) {
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return "", diags
	}
	if v.IsNull() || !v.Type().Equals(cty.String) {
		return "", hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value",
			Detail:   "A literal string is required here.",
			Subject:  expr.Range().Ptr(),
		}}
	}
	return v.AsString(), nil
}

func staticStringList(expr hcl.Expression) ([]string, hcl.Diagnostics) {
	exprs, diags := hcl.ExprList(expr)
	if diags.HasErrors() {
		return nil, diags
	}
	var out []string
	for _, e := range exprs {
		s, d := staticString(e)
		diags = append(diags, d...)
		if !d.HasErrors() {
			out = append(out, s)
		}
	}
	return out, diags
}

func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func decodeOutput(block *hcl.Block) (*Output, hcl.Diagnostics) {
	o := &Output{Name: block.Labels[0], DeclRange: block.DefRange}
	content, diags := block.Body.Content(outputSchema)
	if a, ok := content.Attributes["value"]; ok {
		o.Value = a.Expr
	}
	if a, ok := content.Attributes["description"]; ok {
		var d hcl.Diagnostics
		o.Description, d = staticString(a.Expr)
		diags = append(diags, d...)
	}
	if a, ok := content.Attributes["sensitive"]; ok {
		v, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() && v.Type() == cty.Bool && !v.IsNull() {
			o.Sensitive = v.True()
		}
	}
	return o, diags
}
