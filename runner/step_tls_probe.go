package runner

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// probeSplit separates the two s_client runs of a probe in one command.
const probeSplit = "@@smcfleet-probe-split@@"

// dheProbeCiphers asks for DHE/EDH suites only, over TLS 1.2, at security
// level 0 so that the probe itself accepts a 1024-bit group and can report
// its size (at the default level 2 OpenSSL 3 refuses it with the very
// "dh key too small" being diagnosed).
const dheProbeCiphers = "-tls1_2 -cipher 'DHE:@SECLEVEL=0'"

func tlsProbeKind() *Kind {
	return &Kind{
		Name:    "tls_probe",
		Summary: "Probe from the host which key exchange an endpoint offers: DHE (and its DH size) and the default negotiation. Read-only.",
		Spec: hcldec.ObjectSpec{
			"endpoint":        &hcldec.AttrSpec{Name: "endpoint", Type: cty.String, Required: true},
			"starttls":        &hcldec.AttrSpec{Name: "starttls", Type: cty.String},
			"servername":      &hcldec.AttrSpec{Name: "servername", Type: cty.String},
			"connect_timeout": &hcldec.AttrSpec{Name: "connect_timeout", Type: cty.String},
		},
		Outputs: cty.Object(map[string]cty.Type{
			"endpoint":         cty.String,
			"dhe_offered":      cty.Bool,
			"dh_bits":          cty.Number,
			"dhe_temp_key":     cty.String,
			"default_temp_key": cty.String,
			"default_protocol": cty.String,
			"default_cipher":   cty.String,
		}),
		New: func(cfg cty.Value) (Action, error) {
			ep, err := decodeEndpoint(cfg)
			if err != nil {
				return nil, err
			}
			return &tlsProbeAction{ep: ep}, nil
		},
	}
}

type tlsProbeAction struct{ ep endpointSpec }

// ProbeResult is what a DHE probe learnt.
type ProbeResult struct {
	DHEOffered      bool
	DHBits          int
	DHETempKey      string
	DefaultTempKey  string
	DefaultProtocol string
	DefaultCipher   string
}

var (
	tempKeyRe  = regexp.MustCompile(`(?m)^(?:Server|Peer) Temp Key: (.+?)\s*$`)
	dhBitsRe   = regexp.MustCompile(`^(?:DH|FFDHE[^,]*), (\d+) bits`)
	protocolRe = regexp.MustCompile(`(?m)^\s*Protocol\s*:\s*(\S+)`)
	cipherRe   = regexp.MustCompile(`(?m)^\s*Cipher\s*:\s*(\S+)`)
	newLineRe  = regexp.MustCompile(`(?m)^New, (\S+), Cipher is (\S+)`)
)

// ParseProbe reads the output of the DHE-only and the default s_client runs.
func ParseProbe(dheOut, defaultOut string) ProbeResult {
	var r ProbeResult
	if m := tempKeyRe.FindStringSubmatch(dheOut); m != nil {
		r.DHETempKey = m[1]
		if b := dhBitsRe.FindStringSubmatch(m[1]); b != nil {
			r.DHEOffered = true
			r.DHBits, _ = strconv.Atoi(b[1])
		}
	}
	if m := tempKeyRe.FindStringSubmatch(defaultOut); m != nil {
		r.DefaultTempKey = m[1]
	}
	if m := newLineRe.FindStringSubmatch(defaultOut); m != nil {
		r.DefaultProtocol, r.DefaultCipher = m[1], m[2]
	}
	if m := protocolRe.FindStringSubmatch(defaultOut); m != nil && r.DefaultProtocol == "" {
		r.DefaultProtocol = m[1]
	}
	if m := cipherRe.FindStringSubmatch(defaultOut); m != nil && (r.DefaultCipher == "" || r.DefaultCipher == "(NONE)") {
		r.DefaultCipher = m[1]
	}
	return r
}

func (a *tlsProbeAction) Check(ctx context.Context, env *Env) (*Change, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*a.ep.connectTimeout)
	defer cancel()
	// Both handshakes in one round trip.
	cmd := a.ep.opensslArgs(dheProbeCiphers) + "; echo " + probeSplit + "; " + a.ep.opensslArgs("")
	res, err := env.Conn.Run(ctx, cmd, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s did not answer within %s (from the host)", a.ep.endpoint, 2*a.ep.connectTimeout)
		}
		return nil, fmt.Errorf("run openssl: %w", err)
	}
	dheOut, defaultOut, _ := strings.Cut(string(res.Stdout), probeSplit)
	// A DHE refusal is an answer (dhe_offered = false); a failure of the
	// default handshake is not.
	if err := opensslFailure(res.ExitCode, []byte(defaultOut), a.ep); err != nil {
		return nil, err
	}
	if res.ExitCode == 127 {
		return nil, fmt.Errorf("openssl is not installed on the host")
	}
	p := ParseProbe(dheOut, defaultOut)
	if p.DefaultTempKey == "" && p.DefaultCipher == "" {
		return nil, fmt.Errorf("%s: no TLS session in the default handshake: %s", a.ep.endpoint, lastLines(defaultOut, 3))
	}
	summary := fmt.Sprintf("%s: default %s", a.ep.endpoint, p.DefaultTempKey)
	if p.DefaultProtocol != "" {
		summary += fmt.Sprintf(" (%s %s)", p.DefaultProtocol, p.DefaultCipher)
	}
	if p.DHEOffered {
		summary += fmt.Sprintf("; DHE offered with a %d-bit group", p.DHBits)
		if p.DHBits < 2048 {
			env.Warn(fmt.Sprintf("%s offers DHE with a %d-bit group: a client that allows DHE fails with \"dh key too small\"", a.ep.endpoint, p.DHBits))
		}
	} else {
		summary += "; DHE not offered"
	}
	observed := fingerprint("tls_probe", fmt.Sprint(p.DHEOffered), fmt.Sprint(p.DHBits), p.DHETempKey, p.DefaultTempKey, p.DefaultProtocol, p.DefaultCipher)
	return &Change{Action: ActionNone, Summary: summary, Observed: observed, Outputs: cty.ObjectVal(map[string]cty.Value{
		"endpoint":         cty.StringVal(a.ep.endpoint),
		"dhe_offered":      cty.BoolVal(p.DHEOffered),
		"dh_bits":          cty.NumberIntVal(int64(p.DHBits)),
		"dhe_temp_key":     cty.StringVal(p.DHETempKey),
		"default_temp_key": cty.StringVal(p.DefaultTempKey),
		"default_protocol": cty.StringVal(p.DefaultProtocol),
		"default_cipher":   cty.StringVal(p.DefaultCipher),
	})}, nil
}

func (a *tlsProbeAction) Apply(context.Context, *Env, *Change) (cty.Value, error) {
	return cty.NilVal, fmt.Errorf("tls_probe changes nothing")
}
