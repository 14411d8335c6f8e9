package runner

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/smcfleet/smcfleet/internal/certs"
	"github.com/smcfleet/smcfleet/internal/smc"
)

// DefaultTrustPrefix starts the friendly name of every trust-store entry
// smcfleet adds, so that remove_stale can tell its own entries from the
// rest: it never touches an entry without the prefix.
const DefaultTrustPrefix = "smcfleet-"

func trustStoreKind() *Kind {
	return &Kind{
		Name:    "trust_store",
		Summary: "Ensure certificates are in the Manager's trust store (through the API), compared by SHA-256 of the DER.",
		Spec: hcldec.ObjectSpec{
			"certificates": &hcldec.AttrSpec{Name: "certificates", Type: cty.List(cty.String)},
			"files":        &hcldec.AttrSpec{Name: "files", Type: cty.List(cty.String)},
			"from":         &hcldec.AttrSpec{Name: "from", Type: cty.DynamicPseudoType},
			"name_prefix":  &hcldec.AttrSpec{Name: "name_prefix", Type: cty.String},
			"remove_stale": &hcldec.AttrSpec{Name: "remove_stale", Type: cty.Bool},
		},
		Outputs: cty.Object(map[string]cty.Type{
			"appliance_id": cty.String,
			"added":        cty.List(cty.String),
			"removed":      cty.List(cty.String),
			"present":      cty.List(cty.String),
			"changed":      cty.Bool,
		}),
		New: newTrustStoreAction,
	}
}

type wantedCert struct {
	name string // friendly name, with the prefix
	pem  []byte
	cert *x509.Certificate
	sum  string
}

type trustStoreAction struct {
	wanted      []*wantedCert
	prefix      string
	removeStale bool
}

type trustPlan struct {
	id      string
	add     []*wantedCert
	remove  map[string]string // sha256 -> friendly name
	present []string
	// removedEntries are the document entries remove_stale drops, kept
	// as they were for a rollback.
	removedEntries []any
	observed       string
}

func newTrustStoreAction(cfg cty.Value) (Action, error) {
	a := &trustStoreAction{prefix: DefaultTrustPrefix, removeStale: getBool(cfg, "remove_stale")}
	if v, _ := cfg.GetAttr("name_prefix").Unmark(); !v.IsNull() {
		a.prefix = v.AsString()
	}
	if a.prefix != "" && !certs.NamePattern.MatchString(a.prefix) {
		return nil, fmt.Errorf("name_prefix %q: friendly names allow only letters, digits, '.', '_' and '-'", a.prefix)
	}
	if a.removeStale && a.prefix == "" {
		return nil, fmt.Errorf("remove_stale needs a name_prefix: without one smcfleet cannot tell its own entries from others")
	}
	seen := map[string]bool{}
	add := func(name string, der []byte, c *x509.Certificate) {
		sum := sha256.Sum256(der)
		key := hex.EncodeToString(sum[:])
		if seen[key] {
			return
		}
		seen[key] = true
		if name == "" || !certs.NamePattern.MatchString(name) {
			name = certs.FriendlyName(c)
		}
		a.wanted = append(a.wanted, &wantedCert{
			name: a.prefix + name, cert: c, sum: key,
			pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		})
	}
	parse := func(where string, data []byte, name string) error {
		n := 0
		for rest := data; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			n++
			if n > 1 {
				name = "" // a bundle: name each certificate itself
			}
			add(name, b.Bytes, c)
		}
		if n == 0 {
			return fmt.Errorf("%s holds no PEM certificate", where)
		}
		return nil
	}
	if v, _ := cfg.GetAttr("certificates").UnmarkDeep(); !v.IsNull() {
		for i, it := 0, v.ElementIterator(); it.Next(); i++ {
			_, e := it.Element()
			if err := parse(fmt.Sprintf("certificates[%d]", i), []byte(e.AsString()), ""); err != nil {
				return nil, err
			}
		}
	}
	if v, _ := cfg.GetAttr("files").UnmarkDeep(); !v.IsNull() {
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			matches, err := filepath.Glob(e.AsString())
			if err != nil {
				return nil, fmt.Errorf("files: %w", err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("files: %s matches no file on the controller", e.AsString())
			}
			sort.Strings(matches)
			for _, m := range matches {
				data, err := os.ReadFile(m)
				if err != nil {
					return nil, fmt.Errorf("files: %w", err)
				}
				// The procedure names each entry after its file.
				if err := parse(m, data, strings.TrimSuffix(filepath.Base(m), filepath.Ext(m))); err != nil {
					return nil, err
				}
			}
		}
	}
	if v, _ := cfg.GetAttr("from").UnmarkDeep(); !v.IsNull() {
		list, err := convert.Convert(v, cty.List(cty.Object(map[string]cty.Type{"name": cty.String, "pem": cty.String})))
		if err != nil {
			return nil, fmt.Errorf("from must be a list of certificates with name and pem, such as step.chain.certs: %w", err)
		}
		for i, it := 0, list.ElementIterator(); it.Next(); i++ {
			_, e := it.Element()
			if err := parse(fmt.Sprintf("from[%d]", i), []byte(e.GetAttr("pem").AsString()), e.GetAttr("name").AsString()); err != nil {
				return nil, err
			}
		}
	}
	if len(a.wanted) == 0 && !a.removeStale {
		return nil, fmt.Errorf("no certificate given: set certificates, files or from")
	}
	return a, nil
}

func (a *trustStoreAction) Check(ctx context.Context, env *Env) (*Change, error) {
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
	p, details, err := a.plan(doc)
	if err != nil {
		return nil, err
	}
	p.id = id
	ch := &Change{Action: ActionNone, State: p, Details: details, Observed: p.observed}
	if len(p.add) > 0 || len(p.remove) > 0 {
		ch.Action = ActionUpdate
	}
	ch.Summary = fmt.Sprintf("trust store of appliance %s: %d to add, %d to remove, %d present", id, len(p.add), len(p.remove), len(p.present))
	ch.Outputs = a.outputs(p, false)
	return ch, nil
}

// plan compares the wanted certificates with a configuration document.
func (a *trustStoreAction) plan(doc map[string]any) (*trustPlan, []string, error) {
	have, err := smc.TrustedCertificates(doc)
	if err != nil {
		return nil, nil, err
	}
	bySum := map[string]smc.TrustedCert{}
	names := map[string]string{} // lower-case name -> sha256
	for _, t := range have {
		if t.SHA256 != "" {
			bySum[t.SHA256] = t
		}
		names[strings.ToLower(t.FriendlyName)] = t.SHA256
	}
	p := &trustPlan{remove: map[string]string{}}
	var sums []string
	for _, t := range have {
		sums = append(sums, t.SHA256)
	}
	sort.Strings(sums)
	p.observed = fingerprint(append([]string{"trust_store"}, sums...)...)
	raw, _ := smc.GetPath(doc, smc.TrustStorePath)
	entries, _ := raw.([]any)
	var details []string
	wanted := map[string]bool{}
	for _, w := range a.wanted {
		wanted[w.sum] = true
		if t, ok := bySum[w.sum]; ok {
			p.present = append(p.present, t.FriendlyName)
			details = append(details, fmt.Sprintf("= present %s (as %q)", w.name, t.FriendlyName))
			continue
		}
		name := w.name
		if sum, taken := names[strings.ToLower(name)]; taken && sum != w.sum {
			name = fmt.Sprintf("%s-%s", w.name, w.sum[:8])
			details = append(details, fmt.Sprintf("! the name %s is taken by another certificate: adding as %s", w.name, name))
		}
		names[strings.ToLower(name)] = w.sum
		add := *w
		add.name = name
		p.add = append(p.add, &add)
		details = append(details, fmt.Sprintf("+ add %s (%s, expires %s, sha256 %s)",
			name, w.cert.Subject.String(), w.cert.NotAfter.UTC().Format(time.DateOnly), w.sum))
	}
	if a.removeStale {
		for _, t := range have {
			if strings.HasPrefix(t.FriendlyName, a.prefix) && t.SHA256 != "" && !wanted[t.SHA256] {
				p.remove[t.SHA256] = t.FriendlyName
				if t.Index < len(entries) {
					p.removedEntries = append(p.removedEntries, entries[t.Index])
				}
				details = append(details, fmt.Sprintf("- remove %s (added by smcfleet, no longer wanted; sha256 %s)", t.FriendlyName, t.SHA256))
			}
		}
	}
	return p, details, nil
}

func (a *trustStoreAction) Apply(ctx context.Context, env *Env, ch *Change) (cty.Value, error) {
	p := ch.State.(*trustPlan)
	api, err := env.API(ctx)
	if err != nil {
		return cty.NilVal, err
	}
	staged := map[string]map[string]any{}
	for _, w := range p.add {
		obj, err := api.Stage(ctx, p.id, w.name, w.pem)
		if err != nil {
			return cty.NilVal, fmt.Errorf("stage %s: %w", w.name, err)
		}
		staged[w.sum] = obj
	}
	// One read-modify-write for all changes; on a stale ETag the client
	// re-reads and runs this again on the fresh document.
	_, err = api.Update(ctx, p.id, func(doc map[string]any) (bool, error) {
		have, err := smc.TrustedCertificates(doc)
		if err != nil {
			return false, err
		}
		present := map[string]bool{}
		for _, t := range have {
			present[t.SHA256] = true
		}
		list, _ := smc.GetPath(doc, "configurableElements.trustStore.trustedCertificates")
		entries, _ := list.([]any)
		changed := false
		var kept []any
		for i, e := range entries {
			if i < len(have) && have[i].SHA256 != "" {
				if _, drop := p.remove[have[i].SHA256]; drop && strings.HasPrefix(have[i].FriendlyName, a.prefix) {
					changed = true
					continue
				}
			}
			kept = append(kept, e)
		}
		for _, w := range p.add {
			if present[w.sum] {
				continue
			}
			kept = append(kept, map[string]any{"friendlyName": w.name, "certificate": staged[w.sum]})
			changed = true
		}
		if !changed {
			return false, nil
		}
		if kept == nil {
			kept = []any{}
		}
		return true, smc.SetPath(doc, "configurableElements.trustStore.trustedCertificates", kept, false)
	})
	if err != nil {
		return cty.NilVal, err
	}
	return a.outputs(p, true), nil
}

// Rollback removes the entries this step added (matched by SHA-256 and
// the name it gave them) and puts back those remove_stale dropped.
func (a *trustStoreAction) Rollback(ctx context.Context, env *Env, ch *Change) error {
	p := ch.State.(*trustPlan)
	api, err := env.API(ctx)
	if err != nil {
		return err
	}
	added := map[string]string{}
	for _, w := range p.add {
		added[w.sum] = w.name
	}
	_, err = api.Update(ctx, p.id, func(doc map[string]any) (bool, error) {
		have, err := smc.TrustedCertificates(doc)
		if err != nil {
			return false, err
		}
		raw, _ := smc.GetPath(doc, smc.TrustStorePath)
		entries, _ := raw.([]any)
		present := map[string]bool{}
		changed := false
		var kept []any
		for i, e := range entries {
			if i < len(have) && have[i].SHA256 != "" {
				if name, ok := added[have[i].SHA256]; ok && have[i].FriendlyName == name {
					changed = true
					continue
				}
				present[have[i].SHA256] = true
			}
			kept = append(kept, e)
		}
		for sum := range p.remove {
			if present[sum] {
				continue
			}
			for _, e := range p.removedEntries {
				if m, ok := e.(map[string]any); ok && m["friendlyName"] == p.remove[sum] {
					kept = append(kept, e)
					changed = true
					break
				}
			}
		}
		if !changed {
			return false, nil
		}
		if kept == nil {
			kept = []any{}
		}
		return true, smc.SetPath(doc, smc.TrustStorePath, kept, false)
	})
	return err
}

func (a *trustStoreAction) outputs(p *trustPlan, changed bool) cty.Value {
	strs := func(ss []string) cty.Value {
		if len(ss) == 0 {
			return cty.ListValEmpty(cty.String)
		}
		var vs []cty.Value
		for _, s := range ss {
			vs = append(vs, cty.StringVal(s))
		}
		return cty.ListVal(vs)
	}
	var added, removed []string
	for _, w := range p.add {
		added = append(added, w.name)
	}
	for _, n := range p.remove {
		removed = append(removed, n)
	}
	sort.Strings(removed)
	return cty.ObjectVal(map[string]cty.Value{
		"appliance_id": cty.StringVal(p.id),
		"added":        strs(added),
		"removed":      strs(removed),
		"present":      strs(p.present),
		"changed":      cty.BoolVal(changed),
	})
}
