package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/smcfleet/smcfleet/internal/lang"
	"github.com/smcfleet/smcfleet/internal/smc"
)

// DefaultSecretMask is what the simulated Manager returns in place of a
// stored secret. Whether a real Manager masks (and how) is not known; the
// mask is configurable.
const DefaultSecretMask = "********"

func smcConfigKind() *Kind {
	return &Kind{
		Name:    "smc_config",
		Summary: "Set values at paths of the Manager's appliance configuration document (through the API).",
		Spec: hcldec.ObjectSpec{
			"settings":       &hcldec.AttrSpec{Name: "settings", Type: cty.DynamicPseudoType, Required: true},
			"create_missing": &hcldec.AttrSpec{Name: "create_missing", Type: cty.Bool},
			"secret_mask":    &hcldec.AttrSpec{Name: "secret_mask", Type: cty.String},
			"force_secrets":  &hcldec.AttrSpec{Name: "force_secrets", Type: cty.Bool},
		},
		Outputs: cty.Object(map[string]cty.Type{
			"appliance_id": cty.String,
			"changed":      cty.Bool,
			"paths":        cty.List(cty.String),
		}),
		New: newSMCConfigAction,
	}
}

type setting struct {
	path      string
	value     any // JSON-shaped (numbers as json.Number)
	sensitive bool
}

type smcConfigAction struct {
	settings      []setting
	createMissing bool
	mask          string
	forceSecrets  bool
}

type configPlan struct {
	id    string
	apply []setting // what a PUT sets
	paths []string  // paths that differ
	// prev are the values before the change, for a rollback.
	prev map[string]prevValue
}

type prevValue struct {
	value  any
	exists bool
	masked bool
}

func newSMCConfigAction(cfg cty.Value) (Action, error) {
	a := &smcConfigAction{createMissing: getBool(cfg, "create_missing"), mask: DefaultSecretMask, forceSecrets: getBool(cfg, "force_secrets")}
	if v, _ := cfg.GetAttr("secret_mask").Unmark(); !v.IsNull() {
		a.mask = v.AsString()
	}
	settings, topMarks := cfg.GetAttr("settings").Unmark()
	allSensitive := len(topMarks) > 0
	plain, _ := settings.UnmarkDeep()
	if !plain.Type().IsObjectType() && !plain.Type().IsMapType() {
		return nil, fmt.Errorf("settings must be an object of \"path.to.key\" = value")
	}
	for it := settings.ElementIterator(); it.Next(); {
		k, v := it.Element()
		key, _ := k.Unmark()
		path := key.AsString()
		if path == "" || strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
			return nil, fmt.Errorf("settings: %q is not a dotted path such as configurableElements.smtp.server", path)
		}
		sensitive := allSensitive || lang.IsSensitive(v)
		val, err := jsonValue(v)
		if err != nil {
			return nil, fmt.Errorf("settings[%q]: %w", path, err)
		}
		a.settings = append(a.settings, setting{path: path, value: val, sensitive: sensitive})
	}
	sort.Slice(a.settings, func(i, j int) bool { return a.settings[i].path < a.settings[j].path })
	if len(a.settings) == 0 {
		return nil, fmt.Errorf("settings is empty")
	}
	return a, nil
}

// jsonValue turns a cty value into what encoding/json would decode.
func jsonValue(v cty.Value) (any, error) {
	v, _ = v.UnmarkDeep()
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	return out, dec.Decode(&out)
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

func showJSON(v any, sensitive bool) string {
	if sensitive && v != "" && v != nil {
		return lang.RedactedText
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func (a *smcConfigAction) Check(ctx context.Context, env *Env) (*Change, error) {
	api, err := env.API(ctx)
	if err != nil {
		return nil, err
	}
	id, err := api.ManagerID(ctx)
	if err != nil {
		return nil, err
	}
	doc, _, err := api.Config(ctx, id)
	if err != nil {
		return nil, err
	}
	p := &configPlan{id: id, prev: map[string]prevValue{}}
	var details, masked []string
	obs := []string{"smc_config"}
	for _, s := range a.settings {
		cur, ok := smc.GetPath(doc, s.path)
		// The current values are the precondition (a masked secret
		// shows as its mask); only their hash is ever stored.
		cj, _ := json.Marshal(cur)
		obs = append(obs, s.path, fmt.Sprint(ok), string(cj))
		p.prev[s.path] = prevValue{value: cur, exists: ok, masked: s.sensitive && cur == a.mask}
		switch {
		case !ok && !a.createMissing:
			return nil, fmt.Errorf("%s is not present in this Manager's configuration; check the key names for your version with `smcfleet smc config get -i INVENTORY %s`, or set create_missing = true", s.path, env.Host.Name)
		case !ok:
			details = append(details, fmt.Sprintf("+ %s: %s (created)", s.path, showJSON(s.value, s.sensitive)))
			p.paths = append(p.paths, s.path)
		case s.sensitive && cur == a.mask && !a.forceSecrets:
			// The Manager hides the stored secret: it cannot be compared,
			// so it is written only along with another change.
			masked = append(masked, s.path)
			continue
		case sameJSON(cur, s.value):
			continue
		default:
			details = append(details, fmt.Sprintf("~ %s: %s -> %s", s.path, showJSON(cur, s.sensitive), showJSON(s.value, s.sensitive)))
			p.paths = append(p.paths, s.path)
		}
		p.apply = append(p.apply, s)
	}
	ch := &Change{Action: ActionNone, State: p, Observed: fingerprint(obs...)}
	if len(p.paths) > 0 {
		ch.Action = ActionUpdate
		for _, m := range masked {
			details = append(details, fmt.Sprintf("~ %s: (sensitive, masked by the Manager) written along with the other changes", m))
			for _, s := range a.settings {
				if s.path == m {
					p.apply = append(p.apply, s)
				}
			}
		}
	} else {
		for _, m := range masked {
			details = append(details, fmt.Sprintf("= %s: set on the Manager (masked, not compared; force_secrets = true overwrites it)", m))
		}
	}
	ch.Details = details
	ch.Summary = fmt.Sprintf("configuration of appliance %s: %d of %d settings differ", id, len(p.paths), len(a.settings))
	ch.Outputs = smcConfigOutputs(p, false)
	return ch, nil
}

func (a *smcConfigAction) Apply(ctx context.Context, env *Env, ch *Change) (cty.Value, error) {
	p := ch.State.(*configPlan)
	api, err := env.API(ctx)
	if err != nil {
		return cty.NilVal, err
	}
	_, err = api.Update(ctx, p.id, func(doc map[string]any) (bool, error) {
		changed := false
		for _, s := range p.apply {
			cur, ok := smc.GetPath(doc, s.path)
			if ok && sameJSON(cur, s.value) {
				continue
			}
			if err := smc.SetPath(doc, s.path, s.value, a.createMissing); err != nil {
				return false, fmt.Errorf("%s: %w", s.path, err)
			}
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		return cty.NilVal, err
	}
	return smcConfigOutputs(p, true), nil
}

// Rollback sets the paths back to the values Check read (through the same
// Update), and deletes those it created. A secret the Manager masked
// cannot be put back: it keeps the new value, and the report says so.
func (a *smcConfigAction) Rollback(ctx context.Context, env *Env, ch *Change) error {
	p := ch.State.(*configPlan)
	api, err := env.API(ctx)
	if err != nil {
		return err
	}
	for _, s := range p.apply {
		if p.prev[s.path].masked {
			env.Warn(fmt.Sprintf("%s: the previous value was masked by the Manager and cannot be restored; it keeps the new value", s.path))
		}
	}
	_, err = api.Update(ctx, p.id, func(doc map[string]any) (bool, error) {
		changed := false
		for _, s := range p.apply {
			prev := p.prev[s.path]
			if prev.masked {
				continue
			}
			cur, ok := smc.GetPath(doc, s.path)
			if !prev.exists {
				if ok {
					deletePath(doc, s.path)
					changed = true
				}
				continue
			}
			if ok && sameJSON(cur, prev.value) {
				continue
			}
			if err := smc.SetPath(doc, s.path, prev.value, true); err != nil {
				return false, fmt.Errorf("%s: %w", s.path, err)
			}
			changed = true
		}
		return changed, nil
	})
	return err
}

// deletePath removes the key at a dotted path of a document, if there.
func deletePath(doc map[string]any, path string) {
	parts := strings.Split(path, ".")
	m := doc
	for _, k := range parts[:len(parts)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, parts[len(parts)-1])
}

func smcConfigOutputs(p *configPlan, changed bool) cty.Value {
	paths := cty.ListValEmpty(cty.String)
	if len(p.paths) > 0 {
		var vs []cty.Value
		for _, s := range p.paths {
			vs = append(vs, cty.StringVal(s))
		}
		paths = cty.ListVal(vs)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"appliance_id": cty.StringVal(p.id),
		"changed":      cty.BoolVal(changed),
		"paths":        paths,
	})
}
