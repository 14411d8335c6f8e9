package runner

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/smcfleet/smcfleet/internal/certs"
	"github.com/smcfleet/smcfleet/internal/remote"
	"github.com/smcfleet/smcfleet/internal/tlsgrab"
)

// Vantage points of cert_fetch.
const (
	ViaRemote     = "remote"     // openssl s_client on the host
	ViaTunnel     = "tunnel"     // Go TLS through the host's SSH connection
	ViaController = "controller" // Go TLS from where smcfleet runs
)

// DefaultCertDir is where cert_fetch stores PEMs on the host.
const DefaultCertDir = "/root/smcfleet/certs"

var certObjectType = cty.Object(map[string]cty.Type{
	"name":        cty.String,
	"role":        cty.String,
	"subject":     cty.String,
	"issuer":      cty.String,
	"serial":      cty.String,
	"sha256":      cty.String,
	"not_before":  cty.String,
	"not_after":   cty.String,
	"days_left":   cty.Number,
	"remote_path": cty.String,
	"pem":         cty.String,
})

func certFetchKind() *Kind {
	return &Kind{
		Name:    "cert_fetch",
		Summary: "Fetch a TLS endpoint's certificate chain as a host sees it, verify and name it, and store one PEM per certificate on the host.",
		Spec: hcldec.ObjectSpec{
			"endpoint":        &hcldec.AttrSpec{Name: "endpoint", Type: cty.String, Required: true},
			"starttls":        &hcldec.AttrSpec{Name: "starttls", Type: cty.String},
			"servername":      &hcldec.AttrSpec{Name: "servername", Type: cty.String},
			"via":             &hcldec.AttrSpec{Name: "via", Type: cty.String},
			"dir":             &hcldec.AttrSpec{Name: "dir", Type: cty.String},
			"warn_days":       &hcldec.AttrSpec{Name: "warn_days", Type: cty.Number},
			"connect_timeout": &hcldec.AttrSpec{Name: "connect_timeout", Type: cty.String},
		},
		Outputs: cty.Object(map[string]cty.Type{
			"endpoint": cty.String,
			"via":      cty.String,
			"dir":      cty.String,
			"certs":    cty.List(certObjectType),
			"files":    cty.List(cty.String),
			"changed":  cty.Bool,
		}),
		New: newCertFetchAction,
	}
}

// endpointSpec is what cert_fetch and tls_probe share: where to connect
// and how to start TLS.
type endpointSpec struct {
	endpoint       string // host:port
	host           string
	port           int
	starttls       string // "smtp" or ""
	servername     string
	connectTimeout time.Duration
}

func decodeEndpoint(cfg cty.Value) (endpointSpec, error) {
	e := endpointSpec{endpoint: getString(cfg, "endpoint"), servername: getString(cfg, "servername"), connectTimeout: 30 * time.Second}
	host, port, err := net.SplitHostPort(e.endpoint)
	if err != nil || host == "" {
		return e, fmt.Errorf("endpoint %q must be HOST:PORT, such as email-smtp.us-east-1.amazonaws.com:587", e.endpoint)
	}
	if e.port, err = strconv.Atoi(port); err != nil || e.port < 1 || e.port > 65535 {
		return e, fmt.Errorf("endpoint %q: bad port", e.endpoint)
	}
	e.host = host
	if e.servername == "" {
		e.servername = host
	}
	switch st := getString(cfg, "starttls"); st {
	case "":
		// Implicit TLS on the SMTPS ports, STARTTLS on the submission
		// ports, as SES serves them.
		switch e.port {
		case 25, 587, 2587:
			e.starttls = "smtp"
		}
	case "smtp":
		e.starttls = "smtp"
	case "none":
	default:
		return e, fmt.Errorf("starttls %q: use \"smtp\" or \"none\"", st)
	}
	if t := getString(cfg, "connect_timeout"); t != "" {
		if e.connectTimeout, err = time.ParseDuration(t); err != nil || e.connectTimeout <= 0 {
			return e, fmt.Errorf("connect_timeout %q is not a duration such as \"30s\"", t)
		}
	}
	return e, nil
}

// opensslArgs is the s_client command line for the endpoint; stdin is
// closed with < /dev/null so it never waits for input.
func (e endpointSpec) opensslArgs(extra string) string {
	cmd := "openssl s_client -connect " + shellQuote(e.endpoint) + " -servername " + shellQuote(e.servername)
	if e.starttls != "" {
		cmd += " -starttls " + e.starttls
	}
	if extra != "" {
		cmd += " " + extra
	}
	return cmd + " < /dev/null 2>&1"
}

type certFetchAction struct {
	ep       endpointSpec
	via      string
	dir      string
	warnDays int
}

func newCertFetchAction(cfg cty.Value) (Action, error) {
	ep, err := decodeEndpoint(cfg)
	if err != nil {
		return nil, err
	}
	a := &certFetchAction{ep: ep, via: getString(cfg, "via"), dir: getString(cfg, "dir"), warnDays: 30}
	switch a.via {
	case "":
		a.via = ViaRemote
	case ViaRemote, ViaTunnel, ViaController:
	default:
		return nil, fmt.Errorf("via %q: use \"remote\", \"tunnel\" or \"controller\"", a.via)
	}
	if a.dir == "" {
		a.dir = path.Join(DefaultCertDir, strings.ReplaceAll(ep.endpoint, ":", "_"))
	}
	if !path.IsAbs(a.dir) {
		return nil, fmt.Errorf("dir %q must be an absolute path on the host", a.dir)
	}
	a.dir = path.Clean(a.dir)
	if v, _ := cfg.GetAttr("warn_days").Unmark(); !v.IsNull() {
		n, acc := v.AsBigFloat().Int64()
		if acc != big.Exact || n < 0 {
			return nil, fmt.Errorf("warn_days must be a whole number of days")
		}
		a.warnDays = int(n)
	}
	return a, nil
}

type certFile struct {
	cert   certs.Cert
	path   string
	needed bool
	// existed: an older PEM was there; rollback reads it back from prev.
	existed bool
	prev    []byte
	written bool
}

func (a *certFetchAction) Check(ctx context.Context, env *Env) (*Change, error) {
	raw, err := a.fetch(ctx, env)
	if err != nil {
		return nil, err
	}
	chain, err := checkChain(raw, a.ep.host, a.warnDays, env)
	if err != nil {
		return nil, err
	}
	files := make([]*certFile, len(chain.Certs))
	var paths []string
	for i, c := range chain.Certs {
		files[i] = &certFile{cert: c, path: path.Join(a.dir, c.Name+".pem")}
		paths = append(paths, files[i].path)
	}
	sums, err := remoteSHA256(ctx, env, paths)
	if err != nil {
		return nil, err
	}
	ch := &Change{Action: ActionNone, State: files}
	var created, updated int
	obs := []string{"cert_fetch"}
	for _, f := range files {
		obs = append(obs, f.cert.SHA256, f.path, sums[f.path])
		want := sha256.Sum256(f.cert.PEM)
		switch got, ok := sums[f.path]; {
		case !ok:
			f.needed = true
			created++
			ch.Details = append(ch.Details, "+ "+f.path+"  "+certLine(f.cert))
		case got != hex.EncodeToString(want[:]):
			f.needed = true
			f.existed = true
			updated++
			ch.Details = append(ch.Details, "~ "+f.path+"  "+certLine(f.cert))
		default:
			ch.Details = append(ch.Details, "= "+f.path+"  "+certLine(f.cert))
		}
	}
	switch {
	case updated > 0:
		ch.Action = ActionUpdate
	case created > 0:
		ch.Action = ActionCreate
	}
	ch.Observed = fingerprint(obs...)
	// Keep the PEMs about to be replaced, for a rollback.
	for _, f := range files {
		if f.existed {
			if f.prev, err = env.Conn.ReadFile(ctx, f.path, maxManagedFile); err != nil {
				return nil, fmt.Errorf("read %s: %w", f.path, err)
			}
		}
	}
	ch.Summary = fmt.Sprintf("%s via %s: %d certificate(s) verified; %d new, %d changed, %d identical in %s",
		a.ep.endpoint, a.via, len(files), created, updated, len(files)-created-updated, a.dir)
	ch.Outputs = a.outputs(files, false)
	if ch.Action.Changes() {
		// The chain is known now; the files exist only after the apply.
		planned := ch.Outputs.AsValueMap()
		planned["files"] = cty.UnknownVal(cty.List(cty.String))
		planned["changed"] = cty.UnknownVal(cty.Bool)
		ch.Planned = cty.ObjectVal(planned)
	}
	return ch, nil
}

func (a *certFetchAction) Apply(ctx context.Context, env *Env, ch *Change) (cty.Value, error) {
	files := ch.State.([]*certFile)
	if err := env.Conn.MkdirAll(ctx, a.dir, 0o755); err != nil {
		return cty.NilVal, fmt.Errorf("create %s: %w", a.dir, err)
	}
	mode := fs.FileMode(0o644)
	for _, f := range files {
		if !f.needed {
			continue
		}
		if err := env.Conn.WriteFile(ctx, f.path, f.cert.PEM, remote.WriteOptions{Mode: &mode}); err != nil {
			return cty.NilVal, fmt.Errorf("write %s: %w", f.path, err)
		}
		f.written = true
	}
	return a.outputs(files, true), nil
}

// Rollback puts back the PEMs this run replaced and removes those it
// created (the directory stays).
func (a *certFetchAction) Rollback(ctx context.Context, env *Env, ch *Change) error {
	files := ch.State.([]*certFile)
	mode := fs.FileMode(0o644)
	for _, f := range files {
		if !f.written {
			continue
		}
		if !f.existed {
			if err := env.Conn.Remove(ctx, f.path); err != nil {
				return fmt.Errorf("remove %s: %w", f.path, err)
			}
			continue
		}
		if err := env.Conn.WriteFile(ctx, f.path, f.prev, remote.WriteOptions{Mode: &mode}); err != nil {
			return fmt.Errorf("restore %s: %w", f.path, err)
		}
	}
	return nil
}

func (a *certFetchAction) outputs(files []*certFile, changed bool) cty.Value {
	list := cty.ListValEmpty(certObjectType)
	paths := cty.ListValEmpty(cty.String)
	if len(files) > 0 {
		var cs, ps []cty.Value
		for _, f := range files {
			cs = append(cs, certValue(f.cert, f.path))
			ps = append(ps, cty.StringVal(f.path))
		}
		list, paths = cty.ListVal(cs), cty.ListVal(ps)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"endpoint": cty.StringVal(a.ep.endpoint),
		"via":      cty.StringVal(a.via),
		"dir":      cty.StringVal(a.dir),
		"certs":    list,
		"files":    paths,
		"changed":  cty.BoolVal(changed),
	})
}

func certValue(c certs.Cert, remotePath string) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"name":        cty.StringVal(c.Name),
		"role":        cty.StringVal(string(c.Role)),
		"subject":     cty.StringVal(c.Subject),
		"issuer":      cty.StringVal(c.Issuer),
		"serial":      cty.StringVal(c.Serial),
		"sha256":      cty.StringVal(c.SHA256),
		"not_before":  cty.StringVal(c.NotBefore.UTC().Format(time.RFC3339)),
		"not_after":   cty.StringVal(c.NotAfter.UTC().Format(time.RFC3339)),
		"days_left":   cty.NumberIntVal(int64(daysLeft(c.NotAfter, time.Now()))),
		"remote_path": cty.StringVal(remotePath),
		"pem":         cty.StringVal(string(c.PEM)),
	})
}

func daysLeft(notAfter, now time.Time) int {
	return int(notAfter.Sub(now).Hours() / 24)
}

func certLine(c certs.Cert) string {
	return fmt.Sprintf("%s (%s) %s, expires %s, sha256 %s", c.Name, c.Role, c.Subject, c.NotAfter.UTC().Format("2006-01-02"), c.SHA256)
}

// checkChain orders, verifies and names a fetched chain; a chain that does
// not verify is an error, one that expires soon a warning.
func checkChain(raw []*x509.Certificate, host string, warnDays int, env *Env) (certs.Chain, error) {
	chain := certs.Order(raw, host)
	if problems := chain.Verify(host, time.Now(), nil); len(problems) > 0 {
		return chain, fmt.Errorf("the chain of %s does not verify: %s", host, strings.Join(problems, "; "))
	}
	for _, p := range chain.Problems {
		env.Warn(p)
	}
	for _, e := range chain.Expiring(time.Now(), time.Duration(warnDays)*24*time.Hour) {
		if e.Expired {
			env.Warn(fmt.Sprintf("%s expired on %s", e.Name, e.NotAfter.UTC().Format("2006-01-02")))
		} else {
			env.Warn(fmt.Sprintf("%s expires in %d days (%s)", e.Name, e.DaysLeft, e.NotAfter.UTC().Format("2006-01-02")))
		}
	}
	return chain, nil
}

// fetch gets the chain as the vantage point sees it.
func (a *certFetchAction) fetch(ctx context.Context, env *Env) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, a.ep.connectTimeout)
	defer cancel()
	switch a.via {
	case ViaController, ViaTunnel:
		res, err := grab(ctx, env, a.via, a.ep)
		if err != nil {
			return nil, err
		}
		return res.Certificates, nil
	}
	res, err := env.Conn.Run(ctx, a.ep.opensslArgs("-showcerts"), nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s did not answer within %s (from the host)", a.ep.endpoint, a.ep.connectTimeout)
		}
		return nil, fmt.Errorf("run openssl: %w", err)
	}
	out := res.Stdout
	if err := opensslFailure(res.ExitCode, out, a.ep); err != nil {
		return nil, err
	}
	parsed, problems := certs.ParseShowcerts(out)
	for _, p := range problems {
		env.Warn("openssl output: " + p)
	}
	if len(parsed) == 0 {
		return nil, fmt.Errorf("no certificate in the output of openssl s_client for %s: %s", a.ep.endpoint, lastLines(string(out), 4))
	}
	return parsed, nil
}

// grab fetches with Go's TLS, from the controller or through the host's
// SSH connection.
func grab(ctx context.Context, env *Env, via string, ep endpointSpec) (*tlsgrab.Result, error) {
	var conn net.Conn
	var err error
	if via == ViaTunnel {
		td, ok := env.Conn.(TunnelDialer)
		if !ok {
			return nil, errors.New("via = \"tunnel\" needs an SSH connection that can forward TCP")
		}
		conn, err = td.DialContext(ctx, "tcp", ep.endpoint)
		if err != nil {
			return nil, fmt.Errorf("%s is unreachable from the host (tunnel): %w", ep.endpoint, err)
		}
	} else {
		conn, err = env.DialController(ctx, "tcp", ep.endpoint)
		if err != nil {
			return nil, fmt.Errorf("%s is unreachable from the controller: %w", ep.endpoint, err)
		}
	}
	res, err := tlsgrab.Grab(ctx, conn, ep.starttls, ep.servername)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ep.endpoint, err)
	}
	return res, nil
}

// opensslFailure turns s_client's failure modes into clear errors.
func opensslFailure(code int, out []byte, ep endpointSpec) error {
	text := string(out)
	switch {
	case code == 127 || strings.Contains(text, "openssl: command not found") || strings.Contains(text, "openssl: not found"):
		return errors.New("openssl is not installed on the host (use via = \"tunnel\" to fetch through the SSH connection instead)")
	case strings.Contains(text, "Name or service not known") || strings.Contains(text, "nodename nor servname") ||
		strings.Contains(text, "Temporary failure in name resolution"):
		return fmt.Errorf("%s does not resolve on the host: check its DNS or /etc/hosts", ep.host)
	case strings.Contains(text, "Connection refused") || strings.Contains(text, "connect:errno") ||
		strings.Contains(text, "No route to host") || strings.Contains(text, "Network is unreachable") ||
		strings.Contains(text, "Connection timed out"):
		return fmt.Errorf("%s is unreachable from the host: %s", ep.endpoint, firstMatchingLine(text, "connect", "errno", "refused", "route", "unreachable", "timed out"))
	case strings.Contains(text, "Didn't find STARTTLS") || strings.Contains(text, "STARTTLS not supported") ||
		strings.Contains(text, "STARTTLS failed"):
		return fmt.Errorf("%s refused STARTTLS: %s", ep.endpoint, firstMatchingLine(text, "STARTTLS"))
	}
	return nil
}

func firstMatchingLine(text string, words ...string) string {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		for _, w := range words {
			if strings.Contains(sc.Text(), w) {
				return strings.TrimSpace(sc.Text())
			}
		}
	}
	return lastLines(text, 2)
}

// remoteSHA256 returns the SHA-256 of the files that exist among paths, in
// one command (sha256sum prints the ones it can read).
func remoteSHA256(ctx context.Context, env *Env, paths []string) (map[string]string, error) {
	out := map[string]string{}
	if len(paths) == 0 {
		return out, nil
	}
	var b strings.Builder
	b.WriteString("sha256sum --")
	for _, p := range paths {
		b.WriteString(" " + shellQuote(p))
	}
	b.WriteString(" 2>/dev/null")
	res, err := env.Conn.Run(ctx, b.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("checksum %s: %w", path.Dir(paths[0]), err)
	}
	if res.ExitCode == 127 {
		// No sha256sum: hash the files as they stream over SFTP.
		for _, p := range paths {
			st, err := env.Conn.Stat(ctx, p)
			if err != nil {
				return nil, err
			}
			if !st.Exists {
				continue
			}
			r, err := env.Conn.Open(ctx, p)
			if err != nil {
				return nil, fmt.Errorf("open %s: %w", p, err)
			}
			h := sha256.New()
			_, err = io.Copy(h, r)
			r.Close()
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", p, err)
			}
			out[p] = hex.EncodeToString(h.Sum(nil))
		}
		return out, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(res.Stdout))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if ok && len(sum) == 64 {
			out[name] = sum
		}
	}
	return out, nil
}
