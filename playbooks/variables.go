package playbooks

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

func decodeVariable(block *hcl.Block) (*Variable, hcl.Diagnostics) {
	v := &Variable{
		Name:      block.Labels[0],
		Type:      cty.DynamicPseudoType,
		Default:   cty.NilVal,
		DeclRange: block.DefRange,
	}
	var diags hcl.Diagnostics
	if !nameRe.MatchString(v.Name) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid variable name",
			Detail:   fmt.Sprintf("%q is not a valid name: use letters, digits, underscores and dashes, starting with a letter or underscore.", v.Name),
			Subject:  block.LabelRanges[0].Ptr(),
		})
	}
	content, d := block.Body.Content(variableSchema)
	diags = append(diags, d...)
	if a, ok := content.Attributes["type"]; ok {
		ty, d := typeexpr.TypeConstraint(a.Expr)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.Type = ty
		}
	}
	if a, ok := content.Attributes["description"]; ok {
		s, d := staticString(a.Expr)
		diags = append(diags, d...)
		v.Description = s
	}
	if a, ok := content.Attributes["sensitive"]; ok {
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			if val.Type() != cty.Bool || val.IsNull() {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError, Summary: "Invalid value",
					Detail: "sensitive must be true or false.", Subject: a.Expr.Range().Ptr(),
				})
			} else {
				v.Sensitive = val.True()
			}
		}
	}
	if a, ok := content.Attributes["default"]; ok {
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			conv, err := convert.Convert(val, v.Type)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid default value for variable",
					Detail:   fmt.Sprintf("The default does not match the type %s: %s.", typeexpr.TypeString(v.Type), err),
					Subject:  a.Expr.Range().Ptr(),
				})
			} else {
				v.Default = conv
			}
		}
	}
	for _, vb := range content.Blocks {
		vc, d := vb.Body.Content(validationSchema)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		val := &Validation{
			Condition:    vc.Attributes["condition"].Expr,
			ErrorMessage: vc.Attributes["error_message"].Expr,
			DeclRange:    vb.DefRange,
		}
		for _, tr := range val.Condition.Variables() {
			if tr.RootName() != "var" || len(tr) < 2 {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid reference in variable validation",
					Detail:   fmt.Sprintf("A validation condition may refer only to var.%s.", v.Name),
					Subject:  tr.SourceRange().Ptr(),
				})
				continue
			}
			if a, ok := tr[1].(hcl.TraverseAttr); !ok || a.Name != v.Name {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid reference in variable validation",
					Detail:   fmt.Sprintf("A validation condition may refer only to var.%s, the variable it validates.", v.Name),
					Subject:  tr.SourceRange().Ptr(),
				})
			}
		}
		v.Validations = append(v.Validations, val)
	}
	return v, diags
}
