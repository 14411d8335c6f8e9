package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/smcfleet/smcfleet/internal/smc"
)

func httpKind() *Kind {
	return &Kind{
		Name:    "http",
		Summary: "An authenticated request to the Manager's API, for endpoints no bundled playbook covers; a read-only check can make it idempotent.",
		Spec: hcldec.ObjectSpec{
			"method":        &hcldec.AttrSpec{Name: "method", Type: cty.String},
			"path":          &hcldec.AttrSpec{Name: "path", Type: cty.String, Required: true},
			"json":          &hcldec.AttrSpec{Name: "json", Type: cty.DynamicPseudoType},
			"form":          &hcldec.AttrSpec{Name: "form", Type: cty.Map(cty.String)},
			"expect_status": &hcldec.AttrSpec{Name: "expect_status", Type: cty.List(cty.Number)},
			"check": &hcldec.AttrSpec{Name: "check", Type: cty.Object(map[string]cty.Type{
				"path":      cty.String,
				"json_path": cty.String,
				"equals":    cty.DynamicPseudoType,
			})},
		},
		Outputs: cty.Object(map[string]cty.Type{
			"status": cty.Number,
			"body":   cty.DynamicPseudoType,
			"ran":    cty.Bool,
		}),
		New: newHTTPAction,
	}
}

type httpAction struct {
	method      string
	path        string
	body        []byte
	contentType string
	expect      map[int]bool
	check       *httpCheck
}

type httpCheck struct {
	path, jsonPath string
	equals         any
}

func newHTTPAction(cfg cty.Value) (Action, error) {
	a := &httpAction{method: strings.ToUpper(getString(cfg, "method")), path: getString(cfg, "path"), expect: map[int]bool{}}
	if a.method == "" {
		a.method = "GET"
	}
	switch a.method {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
	default:
		return nil, fmt.Errorf("method %q: use GET, POST, PUT, PATCH or DELETE", a.method)
	}
	if !strings.HasPrefix(a.path, "/") {
		return nil, fmt.Errorf("path %q must start with /", a.path)
	}
	if v, _ := cfg.GetAttr("json").UnmarkDeep(); !v.IsNull() {
		b, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		a.body, a.contentType = b, "application/json"
	}
	if v, _ := cfg.GetAttr("form").UnmarkDeep(); !v.IsNull() {
		if a.body != nil {
			return nil, errors.New("set json or form, not both")
		}
		form := url.Values{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			form.Set(k.AsString(), e.AsString())
		}
		a.body, a.contentType = []byte(form.Encode()), "application/x-www-form-urlencoded"
	}
	if v, _ := cfg.GetAttr("expect_status").UnmarkDeep(); !v.IsNull() {
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			n, acc := e.AsBigFloat().Int64()
			if acc != big.Exact || n < 100 || n > 599 {
				return nil, fmt.Errorf("expect_status: %s is not an HTTP status", e.AsBigFloat().String())
			}
			a.expect[int(n)] = true
		}
	} else {
		for _, n := range []int{200, 201, 202, 204} {
			a.expect[n] = true
		}
	}
	if v, _ := cfg.GetAttr("check").UnmarkDeep(); !v.IsNull() {
		c := &httpCheck{path: getString(v, "path"), jsonPath: getString(v, "json_path")}
		if !strings.HasPrefix(c.path, "/") || c.jsonPath == "" {
			return nil, errors.New("check needs path (starting with /) and json_path")
		}
		eq, err := jsonValue(v.GetAttr("equals"))
		if err != nil {
			return nil, fmt.Errorf("check.equals: %w", err)
		}
		c.equals = eq
		a.check = c
	}
	return a, nil
}

func (a *httpAction) Check(ctx context.Context, env *Env) (*Change, error) {
	api, err := env.API(ctx)
	if err != nil {
		return nil, err
	}
	if a.method == "GET" && a.check == nil {
		// A GET changes nothing: it runs during the plan, and its outputs
		// are known to the steps after it.
		out, err := a.do(ctx, api)
		if err != nil {
			return nil, err
		}
		return &Change{Action: ActionNone, Summary: "GET " + a.path, Outputs: out}, nil
	}
	if a.check != nil {
		resp, err := api.Do(ctx, "GET", a.check.path, nil, "")
		if err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
		var doc any
		dec := json.NewDecoder(bytes.NewReader(resp.Body))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return nil, fmt.Errorf("check: GET %s did not return JSON: %w", a.check.path, err)
		}
		cur, ok := jsonLookup(doc, a.check.jsonPath)
		cj, _ := json.Marshal(cur)
		observed := fingerprint("http", a.check.path, a.check.jsonPath, fmt.Sprint(ok), string(cj))
		if ok && sameJSON(cur, a.check.equals) {
			return &Change{Action: ActionNone, Summary: fmt.Sprintf("%s %s: check %s already equals %s", a.method, a.path, a.check.jsonPath, showJSON(cur, false)),
				Outputs: httpOutputs(0, cty.NullVal(cty.DynamicPseudoType), false), Observed: observed}, nil
		}
		return &Change{Action: ActionRun, Summary: fmt.Sprintf("%s %s: check %s is %s, want %s", a.method, a.path, a.check.jsonPath, showJSON(cur, false), showJSON(a.check.equals, false)), Observed: observed}, nil
	}
	return &Change{Action: ActionRun, Summary: fmt.Sprintf("%s %s (no check: it is sent on every apply)", a.method, a.path)}, nil
}

func (a *httpAction) Apply(ctx context.Context, env *Env, _ *Change) (cty.Value, error) {
	api, err := env.API(ctx)
	if err != nil {
		return cty.NilVal, err
	}
	return a.do(ctx, api)
}

func (a *httpAction) do(ctx context.Context, api ManagerAPI) (cty.Value, error) {
	resp, err := api.Do(ctx, a.method, a.path, a.body, a.contentType)
	status := 0
	var body []byte
	if resp != nil {
		status, body = resp.Status, resp.Body
	}
	var se *smc.Error
	if err != nil && errors.As(err, &se) && se.Response != nil && a.expect[se.Status] {
		status, body, err = se.Status, se.Response.Body, nil
	}
	if err != nil {
		return cty.NilVal, err
	}
	if !a.expect[status] {
		var want []int
		for n := range a.expect {
			want = append(want, n)
		}
		sort.Ints(want)
		return cty.NilVal, fmt.Errorf("%s %s answered %d, want one of %v", a.method, a.path, status, want)
	}
	return httpOutputs(status, decodeBody(body), true), nil
}

// decodeBody turns a JSON body into a value, and anything else into a string.
func decodeBody(b []byte) cty.Value {
	if len(bytes.TrimSpace(b)) == 0 {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	ty, err := ctyjson.ImpliedType(b)
	if err == nil {
		if v, err := ctyjson.Unmarshal(b, ty); err == nil {
			return v
		}
	}
	return cty.StringVal(string(b))
}

func httpOutputs(status int, body cty.Value, ran bool) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"status": cty.NumberIntVal(int64(status)),
		"body":   body,
		"ran":    cty.BoolVal(ran),
	})
}

// jsonLookup walks a decoded JSON value along a dotted path; a numeric
// segment indexes an array.
func jsonLookup(v any, path string) (any, bool) {
	for _, seg := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}
