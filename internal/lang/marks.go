package lang

import (
	"fmt"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

func convertTo(v cty.Value, want cty.Type) (cty.Value, error) {
	v, m := v.Unmark()
	out, err := convert.Convert(v, want)
	if err != nil {
		return cty.UnknownVal(want), err
	}
	return out.WithMarks(m), nil
}

// IsSensitive reports whether v or any value nested in it is sensitive.
func IsSensitive(v cty.Value) bool {
	_, pvm := v.UnmarkDeepWithPaths()
	for _, p := range pvm {
		if _, ok := p.Marks[Sensitive]; ok {
			return true
		}
	}
	return false
}

// SecretStrings returns every known string inside v that is marked
// sensitive (directly or through a marked parent), for output redaction.
func SecretStrings(v cty.Value) []string {
	var out []string
	var walk func(cty.Value, bool)
	walk = func(v cty.Value, inherited bool) {
		v, m := v.Unmark()
		secret := inherited || hasSensitive(m)
		if !v.IsKnown() || v.IsNull() {
			return
		}
		ty := v.Type()
		switch {
		case ty == cty.String:
			if secret && v.AsString() != "" {
				out = append(out, v.AsString())
			}
		case ty == cty.Number || ty == cty.Bool:
			if secret {
				out = append(out, ShowValue(v))
			}
		case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
			for it := v.ElementIterator(); it.Next(); {
				_, ev := it.Element()
				walk(ev, secret)
			}
		}
	}
	walk(v, false)
	return out
}

func hasSensitive(m cty.ValueMarks) bool {
	_, ok := m[Sensitive]
	return ok
}

// Redact returns v with every sensitive part replaced by RedactedText (as a
// string), and without marks, so it can be shown or encoded.
func Redact(v cty.Value) cty.Value {
	v, m := v.Unmark()
	if hasSensitive(m) {
		return cty.StringVal(RedactedText)
	}
	if !v.IsKnown() || v.IsNull() {
		return v
	}
	ty := v.Type()
	switch {
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		var elems []cty.Value
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			elems = append(elems, Redact(ev))
		}
		if len(elems) == 0 {
			return v
		}
		return cty.TupleVal(elems)
	case ty.IsMapType() || ty.IsObjectType():
		attrs := map[string]cty.Value{}
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			attrs[k.AsString()] = Redact(ev)
		}
		if len(attrs) == 0 {
			return v
		}
		return cty.ObjectVal(attrs)
	}
	return v
}

// ShowValue renders a value for humans, HCL-like, with secrets redacted and
// unknown values shown as "(known after apply)".
func ShowValue(v cty.Value) string {
	v, m := v.Unmark()
	if hasSensitive(m) {
		return RedactedText
	}
	if !v.IsKnown() {
		return "(known after apply)"
	}
	if v.IsNull() {
		return "null"
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case ty == cty.Number:
		return v.AsBigFloat().Text('f', -1)
	case ty == cty.Bool:
		if v.True() {
			return "true"
		}
		return "false"
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		var parts []string
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			parts = append(parts, ShowValue(ev))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case ty.IsMapType() || ty.IsObjectType():
		var keys []string
		vals := map[string]string{}
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			keys = append(keys, k.AsString())
			vals[k.AsString()] = ShowValue(ev)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+" = "+vals[k])
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	return v.GoString()
}
