package inventory

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/smcfleet/smcfleet/internal/lang"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"golang.org/x/crypto/ssh"
)

type blockKind int

const (
	kindDefaults blockKind = iota
	kindGroup
	kindHost
)

// field is one setting as written in one block, or as merged.
type field[T any] struct {
	val T
	set bool
	rng hcl.Range // the expression
	// secret tells that the value, or for a list any element, is sensitive.
	secret bool
	// raw holds the secret strings as evaluated, before path resolution.
	raw []string
	// elems and elemSecret describe list elements. elems are the element
	// ranges, or the whole expression's when the list is computed.
	elems      []hcl.Range
	elemSecret []bool
}

func (f *field[T]) override(o field[T]) {
	if o.set {
		*f = o
	}
}

type settings struct {
	address, user, password, knownHosts field[string]
	// sshConfig is an OpenSSH client configuration file; "" when set
	// means none.
	sshConfig                     field[string]
	port                          field[int]
	sshAgent                      field[bool]
	identityFiles, hostKeys, jump field[[]string]
	groups                        field[[]string]
	connectTimeout                field[time.Duration]
	vars                          map[string]cty.Value
	api                           *apiSettings
}

type apiSettings struct {
	url, username, password, caFile, fingerprint field[string]
	insecure                                     field[bool]
}

func newSettings() *settings {
	return &settings{vars: map[string]cty.Value{}}
}

// apply overrides s with every setting o has.
func (s *settings) apply(o *settings) {
	s.address.override(o.address)
	s.user.override(o.user)
	s.password.override(o.password)
	s.knownHosts.override(o.knownHosts)
	s.sshConfig.override(o.sshConfig)
	s.port.override(o.port)
	s.sshAgent.override(o.sshAgent)
	s.identityFiles.override(o.identityFiles)
	s.hostKeys.override(o.hostKeys)
	s.jump.override(o.jump)
	s.groups.override(o.groups)
	s.connectTimeout.override(o.connectTimeout)
	for k, v := range o.vars {
		s.vars[k] = v
	}
	if o.api != nil {
		if s.api == nil {
			s.api = &apiSettings{}
		}
		s.api.url.override(o.api.url)
		s.api.username.override(o.api.username)
		s.api.password.override(o.api.password)
		s.api.caFile.override(o.api.caFile)
		s.api.fingerprint.override(o.api.fingerprint)
		s.api.insecure.override(o.api.insecure)
	}
}

// secretFields lists which merged fields are sensitive and their secret
// strings. Passwords are left out: they are secret by nature.
func (s *settings) secretFields() (map[string]bool, []string) {
	sensitive := map[string]bool{}
	var secrets []string
	str := func(name string, f field[string]) {
		if f.secret {
			sensitive[name] = true
			secrets = append(secrets, f.val)
			secrets = append(secrets, f.raw...)
		}
	}
	list := func(name string, f field[[]string]) {
		for i, secret := range f.elemSecret {
			if secret {
				sensitive[fmt.Sprintf("%s[%d]", name, i)] = true
				secrets = append(secrets, f.val[i])
			}
		}
		secrets = append(secrets, f.raw...)
	}
	str("address", s.address)
	str("user", s.user)
	str("known_hosts", s.knownHosts)
	list("identity_files", s.identityFiles)
	list("host_keys", s.hostKeys)
	if s.api != nil {
		str("api.url", s.api.url)
		str("api.username", s.api.username)
		str("api.ca_file", s.api.caFile)
		str("api.fingerprint_sha256", s.api.fingerprint)
	}
	return sensitive, secrets
}

func (a *apiSettings) build(address string) *API {
	api := &API{
		URL:               a.url.val,
		Username:          a.username.val,
		Password:          a.password.val,
		CAFile:            a.caFile.val,
		FingerprintSHA256: a.fingerprint.val,
		Insecure:          a.insecure.val,
	}
	if !a.url.set {
		host := address
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		api.URL = "https://" + host
	}
	return api
}

// conflicts reports insecure = true next to a way to verify the
// certificate, wherever each was set.
func (a *apiSettings) conflicts() hcl.Diagnostics {
	if !a.insecure.set || !a.insecure.val {
		return nil
	}
	var diags hcl.Diagnostics
	for _, c := range []struct {
		name string
		f    field[string]
	}{{"ca_file", a.caFile}, {"fingerprint_sha256", a.fingerprint}} {
		if !c.f.set {
			continue
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Contradictory api settings",
			Detail: fmt.Sprintf("insecure = true turns certificate verification off, but %s (at %s) asks to verify the certificate. Remove one of them; an inherited setting cannot be unset, so move it from defaults into a group if only some hosts need it.",
				c.name, posString(c.f.rng)),
			Subject: a.insecure.rng.Ptr(),
		})
	}
	return diags
}

// decoder evaluates attributes in the inventory's EvalContext.
type decoder struct {
	ctx     *hcl.EvalContext
	baseDir string
	getenv  func(string) (string, bool)

	homeDone bool
	home     string
	homeErr  error
}

var connectionAttrs = []hcl.AttributeSchema{
	{Name: "port"}, {Name: "user"}, {Name: "identity_files"}, {Name: "ssh_agent"},
	{Name: "password"}, {Name: "known_hosts"}, {Name: "host_keys"}, {Name: "jump"},
	{Name: "connect_timeout"}, {Name: "ssh_config"}, {Name: "vars"},
}

var (
	sharedSchema = &hcl.BodySchema{
		Attributes: connectionAttrs,
		Blocks:     []hcl.BlockHeaderSchema{{Type: "api"}},
	}
	hostSchema = &hcl.BodySchema{
		Attributes: append([]hcl.AttributeSchema{{Name: "address"}, {Name: "groups"}}, connectionAttrs...),
		Blocks:     []hcl.BlockHeaderSchema{{Type: "api"}},
	}
	apiSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "url"}, {Name: "username"}, {Name: "password"},
			{Name: "ca_file"}, {Name: "fingerprint_sha256"}, {Name: "insecure"},
		},
	}
)

func (d *decoder) decodeSettings(body hcl.Body, kind blockKind) (*settings, hcl.Diagnostics) {
	schema := sharedSchema
	if kind == kindHost {
		schema = hostSchema
	}
	content, diags := body.Content(schema)
	s := newSettings()
	attr := func(name string) *hcl.Attribute { return content.Attributes[name] }
	add := func(ds hcl.Diagnostics) { diags = append(diags, ds...) }

	// Attributes in schema order, so diagnostics come in a stable order.
	if a := attr("address"); a != nil {
		f, ds := d.stringField(a, true)
		add(ds)
		if f.set {
			if err := checkAddress(f.val); err != nil {
				add(errorAt(a, "Invalid address", fmt.Sprintf("address %s: %v.", quote(f.val, f.secret), err)))
			} else {
				s.address = f
			}
		}
	}
	if a := attr("groups"); a != nil {
		f, ds := d.listField(a, false)
		add(ds)
		s.groups = f
	}
	if a := attr("port"); a != nil {
		f, ds := d.portField(a)
		add(ds)
		s.port = f
	}
	if a := attr("user"); a != nil {
		f, ds := d.stringField(a, true)
		add(ds)
		if f.set && (f.val == "" || strings.IndexFunc(f.val, unicode.IsSpace) >= 0 || strings.ContainsAny(f.val, "@:")) {
			add(errorAt(a, "Invalid user", "user must be non-empty, without spaces, '@' or ':'."))
		} else {
			s.user = f
		}
	}
	if a := attr("identity_files"); a != nil {
		f, ds := d.listField(a, true)
		add(ds)
		add(d.resolvePaths(&f))
		s.identityFiles = f
	}
	if a := attr("ssh_agent"); a != nil {
		f, ds := d.boolField(a)
		add(ds)
		s.sshAgent = f
	}
	if a := attr("password"); a != nil {
		f, ds := d.stringField(a, true)
		add(ds)
		s.password = f
	}
	if a := attr("known_hosts"); a != nil {
		f, ds := d.pathField(a)
		add(ds)
		s.knownHosts = f
	}
	if a := attr("host_keys"); a != nil {
		f, ds := d.listField(a, true)
		add(ds)
		for i, k := range f.val {
			if err := checkHostKey(k); err != nil {
				add(hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  "Invalid host key",
					Detail:   fmt.Sprintf("%s: %v.", quote(k, f.elemSecret[i]), err),
					Subject:  f.elems[i].Ptr(),
				}})
			}
		}
		s.hostKeys = f
	}
	if a := attr("jump"); a != nil {
		f, ds := d.listField(a, false)
		add(ds)
		s.jump = f
	}
	if a := attr("connect_timeout"); a != nil {
		f, ds := d.durationField(a)
		add(ds)
		s.connectTimeout = f
	}
	if a := attr("ssh_config"); a != nil {
		f, ds := d.stringField(a, false)
		add(ds)
		if f.set {
			if err := d.resolveSSHConfigPath(&f.val); err != nil {
				add(errorAt(a, "Invalid path", err.Error()+"."))
			} else {
				s.sshConfig = f
			}
		}
	}
	if a := attr("vars"); a != nil {
		vars, ds := d.vars(a)
		add(ds)
		s.vars = vars
	}

	for _, block := range content.Blocks {
		api, ds := d.decodeAPI(block.Body)
		add(ds)
		if s.api != nil {
			add(hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Duplicate api block",
				Detail:   "A block has at most one api block.",
				Subject:  block.DefRange.Ptr(),
			}})
			continue
		}
		s.api = api
	}
	return s, diags
}

func (d *decoder) decodeAPI(body hcl.Body) (*apiSettings, hcl.Diagnostics) {
	content, diags := body.Content(apiSchema)
	add := func(ds hcl.Diagnostics) { diags = append(diags, ds...) }
	api := &apiSettings{}
	if a := content.Attributes["url"]; a != nil {
		f, ds := d.stringField(a, true)
		add(ds)
		if f.set {
			if err := checkAPIURL(f.val); err != nil {
				add(errorAt(a, "Invalid api URL", fmt.Sprintf("url %s: %v.", quote(f.val, f.secret), err)))
			} else {
				api.url = f
			}
		}
	}
	if a := content.Attributes["username"]; a != nil {
		f, ds := d.stringField(a, true)
		add(ds)
		api.username = f
	}
	if a := content.Attributes["password"]; a != nil {
		f, ds := d.stringField(a, true)
		add(ds)
		api.password = f
	}
	if a := content.Attributes["ca_file"]; a != nil {
		f, ds := d.pathField(a)
		add(ds)
		api.caFile = f
	}
	if a := content.Attributes["fingerprint_sha256"]; a != nil {
		f, ds := d.stringField(a, true)
		add(ds)
		if f.set {
			norm, err := normalizeFingerprint(f.val)
			if err != nil {
				add(errorAt(a, "Invalid fingerprint", fmt.Sprintf("fingerprint_sha256 %s: %v.", quote(f.val, f.secret), err)))
			} else {
				f.val = norm
				api.fingerprint = f
			}
		}
	}
	if a := content.Attributes["insecure"]; a != nil {
		f, ds := d.boolField(a)
		add(ds)
		api.insecure = f
	}
	add(api.conflicts())
	return api, diags
}

func errorAt(a *hcl.Attribute, summary, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  a.Expr.Range().Ptr(),
	}}
}

func typeError(a *hcl.Attribute, subject hcl.Range, want string) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Incorrect attribute value type",
		Detail:   fmt.Sprintf("Inappropriate value for attribute %q: %s is required.", a.Name, want),
		Subject:  subject.Ptr(),
	}}
}

func notSensitive(a *hcl.Attribute) hcl.Diagnostics {
	return errorAt(a, "Sensitive value not allowed",
		fmt.Sprintf("%s is not a secret and is shown in plans and listings; wrap the expression in nonsensitive() if it comes from env() or file().", a.Name))
}

// eval evaluates a's expression and strips its marks, reporting whether it
// was sensitive anywhere. A null value leaves the setting unset.
func (d *decoder) eval(a *hcl.Attribute) (v cty.Value, secret, null bool, diags hcl.Diagnostics) {
	v, diags = a.Expr.Value(d.ctx)
	if diags.HasErrors() {
		return cty.NilVal, false, true, diags
	}
	secret = lang.IsSensitive(v)
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return v, secret, true, diags
	}
	if !v.IsWhollyKnown() {
		return v, secret, true, append(diags, errorAt(a, "Unknown value", "The value cannot be determined when the inventory is loaded.")...)
	}
	return v, secret, false, diags
}

func (d *decoder) stringField(a *hcl.Attribute, allowSensitive bool) (field[string], hcl.Diagnostics) {
	f := field[string]{rng: a.Expr.Range()}
	v, secret, null, diags := d.eval(a)
	if null {
		return f, diags
	}
	if secret && !allowSensitive {
		return f, append(diags, notSensitive(a)...)
	}
	sv, err := convert.Convert(v, cty.String)
	if err != nil {
		return f, append(diags, typeError(a, f.rng, "a string")...)
	}
	f.val, f.set, f.secret = sv.AsString(), true, secret
	if secret {
		f.raw = []string{f.val}
	}
	return f, diags
}

// listField decodes a list of strings, keeping each element's range when
// the list is written literally.
func (d *decoder) listField(a *hcl.Attribute, allowSensitive bool) (field[[]string], hcl.Diagnostics) {
	f := field[[]string]{rng: a.Expr.Range()}
	v, diags := a.Expr.Value(d.ctx)
	if diags.HasErrors() {
		return f, diags
	}
	if lang.IsSensitive(v) && !allowSensitive {
		return f, append(diags, notSensitive(a)...)
	}
	top, marks := v.Unmark()
	_, topSecret := marks[lang.Sensitive]
	if top.IsNull() {
		return f, diags
	}
	ty := top.Type()
	if !ty.IsListType() && !ty.IsTupleType() && !ty.IsSetType() {
		return f, append(diags, typeError(a, f.rng, "a list of strings")...)
	}
	if !top.IsKnown() {
		return f, append(diags, errorAt(a, "Unknown value", "The value cannot be determined when the inventory is loaded.")...)
	}
	exprs, listDiags := hcl.ExprList(a.Expr)
	literal := !listDiags.HasErrors() && len(exprs) == top.LengthInt()
	f.val = []string{}
	var bad bool
	for it := top.ElementIterator(); it.Next(); {
		_, ev := it.Element()
		i := len(f.val)
		rng := f.rng
		if literal {
			rng = exprs[i].Range()
		}
		secret := topSecret || lang.IsSensitive(ev)
		ev, _ = ev.UnmarkDeep()
		sv, err := convert.Convert(ev, cty.String)
		if err != nil || sv.IsNull() || !sv.IsKnown() {
			diags = append(diags, typeError(a, rng, "a list of strings")...)
			bad = true
			sv = cty.StringVal("")
		}
		f.val = append(f.val, sv.AsString())
		f.elems = append(f.elems, rng)
		f.elemSecret = append(f.elemSecret, secret)
		if secret {
			f.secret = true
			f.raw = append(f.raw, sv.AsString())
		}
	}
	if bad {
		return field[[]string]{rng: f.rng}, diags
	}
	f.set = true
	return f, diags
}

func (d *decoder) pathField(a *hcl.Attribute) (field[string], hcl.Diagnostics) {
	f, diags := d.stringField(a, true)
	if !f.set {
		return f, diags
	}
	p, err := d.resolvePath(f.val)
	if err != nil {
		return field[string]{rng: f.rng}, append(diags, errorAt(a, "Invalid path", err.Error()+".")...)
	}
	f.val = p
	return f, diags
}

// resolvePaths resolves every element of a list of paths in place.
func (d *decoder) resolvePaths(f *field[[]string]) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i, p := range f.val {
		resolved, err := d.resolvePath(p)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid path",
				Detail:   err.Error() + ".",
				Subject:  f.elems[i].Ptr(),
			})
			continue
		}
		f.val[i] = resolved
	}
	if diags.HasErrors() {
		*f = field[[]string]{rng: f.rng}
	}
	return diags
}

func (d *decoder) portField(a *hcl.Attribute) (field[int], hcl.Diagnostics) {
	f := field[int]{rng: a.Expr.Range()}
	v, secret, null, diags := d.eval(a)
	if null {
		return f, diags
	}
	if secret {
		return f, append(diags, notSensitive(a)...)
	}
	nv, err := convert.Convert(v, cty.Number)
	if err != nil {
		return f, append(diags, typeError(a, f.rng, "a number")...)
	}
	bf := nv.AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != big.Exact || n < 1 || n > 65535 {
		return f, append(diags, errorAt(a, "Invalid port", fmt.Sprintf("port must be a whole number from 1 to 65535, not %s.", bf.Text('f', -1)))...)
	}
	f.val, f.set = int(n), true
	return f, diags
}

func (d *decoder) boolField(a *hcl.Attribute) (field[bool], hcl.Diagnostics) {
	f := field[bool]{rng: a.Expr.Range()}
	v, secret, null, diags := d.eval(a)
	if null {
		return f, diags
	}
	if secret {
		return f, append(diags, notSensitive(a)...)
	}
	bv, err := convert.Convert(v, cty.Bool)
	if err != nil {
		return f, append(diags, typeError(a, f.rng, "a bool")...)
	}
	f.val, f.set = bv.True(), true
	return f, diags
}

func (d *decoder) durationField(a *hcl.Attribute) (field[time.Duration], hcl.Diagnostics) {
	f := field[time.Duration]{rng: a.Expr.Range()}
	v, secret, null, diags := d.eval(a)
	if null {
		return f, diags
	}
	if secret {
		return f, append(diags, notSensitive(a)...)
	}
	if v.Type() != cty.String {
		return f, append(diags, typeError(a, f.rng, `a duration string like "10s"`)...)
	}
	dur, err := time.ParseDuration(v.AsString())
	if err != nil {
		return f, append(diags, errorAt(a, "Invalid duration", fmt.Sprintf("%s: %v; write it like \"10s\" or \"1m30s\".", a.Name, err))...)
	}
	if dur <= 0 {
		return f, append(diags, errorAt(a, "Invalid duration", fmt.Sprintf("%s must be positive, not %s.", a.Name, v.AsString()))...)
	}
	f.val, f.set = dur, true
	return f, diags
}

// vars decodes an object or map, keeping each value's marks (and the
// whole value's, pushed down onto each element).
func (d *decoder) vars(a *hcl.Attribute) (map[string]cty.Value, hcl.Diagnostics) {
	out := map[string]cty.Value{}
	v, diags := a.Expr.Value(d.ctx)
	if diags.HasErrors() {
		return out, diags
	}
	top, marks := v.Unmark()
	if top.IsNull() {
		return out, diags
	}
	if ty := top.Type(); !ty.IsObjectType() && !ty.IsMapType() {
		return out, append(diags, typeError(a, a.Expr.Range(), `an object like { region = "us-east-1" }`)...)
	}
	if !top.IsWhollyKnown() {
		return out, append(diags, errorAt(a, "Unknown value", "The value cannot be determined when the inventory is loaded.")...)
	}
	for it := top.ElementIterator(); it.Next(); {
		k, ev := it.Element()
		out[k.AsString()] = ev.WithMarks(marks)
	}
	return out, diags
}

func (d *decoder) homeDir() (string, error) {
	if !d.homeDone {
		d.homeDone = true
		if home, ok := d.getenv("HOME"); ok && home != "" {
			d.home = home
		} else {
			d.home, d.homeErr = os.UserHomeDir()
		}
	}
	return d.home, d.homeErr
}

func (d *decoder) localUser() (string, error) {
	if u, ok := d.getenv("USER"); ok && u != "" {
		return u, nil
	}
	u, err := user.Current()
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

// resolvePath expands a leading ~/ and makes p relative to the inventory's
// directory.
func (d *decoder) resolvePath(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("the path is empty")
	case p == "~" || strings.HasPrefix(p, "~/"):
		home, err := d.homeDir()
		if err != nil {
			return "", fmt.Errorf("expand ~: %w", err)
		}
		p = filepath.Join(home, p[1:])
	case strings.HasPrefix(p, "~"):
		return "", fmt.Errorf("%q: ~user is not supported; use ~/ or write the path out", p)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.baseDir, p)
	}
	return p, nil
}

// checkAddress accepts a host name or an IP address. A leading '-' is
// refused: it would read as an option to anything that shells out.
func checkAddress(s string) error {
	switch {
	case s == "":
		return errors.New("it is empty")
	case strings.HasPrefix(s, "-"):
		return errors.New("it starts with '-'")
	case strings.Contains(s, ":"):
		ip, _, _ := strings.Cut(s, "%")
		if net.ParseIP(ip) == nil {
			return errors.New("it contains ':' but is not an IPv6 address (write IPv6 without brackets and the port in port)")
		}
		return nil
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("%q is not allowed in a host name", r)
		}
	}
	return nil
}

// hop is a jump host written as [user@]host[:port]. port is 0 when not
// given.
type hop struct {
	user, host string
	port       int
}

// looksLikeAddress tells a [user@]host[:port] string from a bare word,
// which must name an inventory host.
func looksLikeAddress(s string) bool {
	return strings.ContainsAny(s, ".:@")
}

func parseHop(s string) (hop, error) {
	var h hop
	rest := s
	if i := strings.LastIndex(s, "@"); i >= 0 {
		h.user, rest = s[:i], s[i+1:]
		if h.user == "" || strings.IndexFunc(h.user, unicode.IsSpace) >= 0 || strings.ContainsAny(h.user, "@:") {
			return hop{}, fmt.Errorf("bad user %q", h.user)
		}
	}
	var port string
	switch {
	case strings.HasPrefix(rest, "["):
		inner, after, ok := strings.Cut(rest[1:], "]")
		if !ok {
			return hop{}, errors.New("missing ']'")
		}
		h.host = inner
		if after != "" {
			var found bool
			port, found = strings.CutPrefix(after, ":")
			if !found {
				return hop{}, fmt.Errorf("unexpected %q after ']'", after)
			}
		}
		if !strings.Contains(inner, ":") {
			return hop{}, errors.New("brackets are for IPv6 addresses")
		}
	case strings.Count(rest, ":") == 1:
		h.host, port, _ = strings.Cut(rest, ":")
	default:
		h.host = rest // a name, an IPv4 or a bare IPv6 address
	}
	if err := checkAddress(h.host); err != nil {
		return hop{}, fmt.Errorf("bad host %q: %v", h.host, err)
	}
	if port != "" || strings.HasSuffix(rest, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return hop{}, fmt.Errorf("bad port %q", port)
		}
		h.port = n
	}
	return h, nil
}

// checkHostKey accepts a public key in authorized_keys form or a SHA256
// fingerprint as printed by ssh-keygen -l.
func checkHostKey(s string) error {
	if rest, ok := strings.CutPrefix(s, "SHA256:"); ok {
		b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(rest, "="))
		if err != nil || len(b) != sha256.Size {
			return errors.New("not a SHA256 fingerprint: expected SHA256: and 43 base64 characters, as printed by ssh-keygen -l")
		}
		return nil
	}
	_, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return fmt.Errorf("neither a public key (\"ssh-ed25519 AAAA...\") nor a fingerprint (\"SHA256:...\"): %v", err)
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return errors.New("one entry holds more than one key; give each key its own entry")
	}
	return nil
}

// normalizeFingerprint accepts 64 hex digits, bare or in colon-separated
// pairs, and returns upper-case pairs joined by ':'.
func normalizeFingerprint(s string) (string, error) {
	hexDigits := s
	if strings.Contains(s, ":") {
		parts := strings.Split(s, ":")
		ok := len(parts) == sha256.Size
		for _, p := range parts {
			ok = ok && len(p) == 2
		}
		if !ok {
			return "", errors.New("expected 32 colon-separated hex pairs (AB:CD:...) or 64 hex digits")
		}
		hexDigits = strings.Join(parts, "")
	}
	b, err := hex.DecodeString(hexDigits)
	if err != nil || len(b) != sha256.Size {
		return "", errors.New("expected the certificate's SHA-256 as 32 hex pairs (AB:CD:...) or 64 hex digits")
	}
	pairs := make([]string, len(b))
	for i, c := range b {
		pairs[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(pairs, ":"), nil
}

func checkAPIURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme != "https":
		return errors.New("the API is reached over https://")
	case u.Host == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("put credentials in username and password, not in the URL")
	}
	return nil
}

// quote shows a value in a diagnostic, unless it is secret.
func quote(s string, secret bool) string {
	if secret {
		return lang.RedactedText
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return strconv.Quote(s)
}
