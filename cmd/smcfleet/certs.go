package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"testing/fstest"
	"text/tabwriter"

	"github.com/hashicorp/hcl/v2"
	"github.com/urfave/cli/v2"

	"github.com/smcfleet/smcfleet/playbooks"
	"github.com/smcfleet/smcfleet/runner"
)

func certsCommand(s *streams) *cli.Command {
	common := func() []cli.Flag {
		return []cli.Flag{
			inventoryFlag(true), limitFlag,
			&cli.StringFlag{Name: "endpoint", Aliases: []string{"e"}, Required: true, EnvVars: env("ENDPOINT"),
				Usage: "`HOST:PORT` of the TLS endpoint, e.g. email-smtp.us-east-1.amazonaws.com:587"},
			&cli.StringFlag{Name: "starttls", EnvVars: env("STARTTLS"),
				Usage: "\"smtp\" or \"none\" (default: smtp for ports 25, 587 and 2587; implicit TLS otherwise)"},
			&cli.IntFlag{Name: "forks", Aliases: []string{"f"}, EnvVars: env("FORKS"), Value: runner.DefaultForks, Usage: "hosts at once"},
			&cli.DurationFlag{Name: "step-timeout", EnvVars: env("STEP_TIMEOUT"), Value: runner.DefaultStepTimeout, Usage: "time limit per host"},
			&cli.DurationFlag{Name: "connect-timeout", EnvVars: env("CONNECT_TIMEOUT"), Value: 15e9, Usage: "SSH connect limit"},
			&cli.BoolFlag{Name: "accept-new", EnvVars: env("ACCEPT_NEW"), Usage: "record unknown SSH host keys"},
			resolveFlag, jsonFlag, noColorFlag,
		}
	}
	return &cli.Command{
		Name:  "certs",
		Usage: "look at a TLS endpoint's certificate chain and key exchange as each Manager sees it (changes nothing)",
		Subcommands: []*cli.Command{{
			Name:  "fetch",
			Usage: "print, per host, the chain the endpoint presents: name, role, subject, expiry, SHA-256",
			Description: `Fetches the chain from each Manager's network vantage point (openssl s_client on
the Manager, by default), verifies every signature and the leaf's name, and
prints it with the trust-store names smcfleet gives the certificates. The last
line says whether every host sees the same chain. Nothing is written.

Examples:
   smcfleet certs fetch -i inventory.hcl --endpoint email-smtp.us-east-1.amazonaws.com:587
   smcfleet certs fetch -i inventory.hcl -e email-smtp.eu-west-1.amazonaws.com:465 --via tunnel --json`,
			Flags: append(common(), &cli.StringFlag{Name: "via", Value: "remote", EnvVars: env("VIA"),
				Usage: "where to look from: remote (openssl on the Manager), tunnel (through the Manager's SSH connection), controller (from here)"}),
			Action: func(c *cli.Context) error { return runCerts(c, s, "fetch") },
		}, {
			Name:  "probe",
			Usage: "print, per host, whether the endpoint offers DHE and its DH size, and the default key exchange",
			Description: `Runs the appendix's "dh key too small" check from each Manager: a DHE-only
handshake (TLS 1.2, security level 0 so the probe accepts small groups) and a
default one. A DH group under 2048 bits is what makes the Manager fail.

Example:
   smcfleet certs probe -i inventory.hcl --endpoint email-smtp.us-east-2.amazonaws.com:587`,
			Flags:  common(),
			Action: func(c *cli.Context) error { return runCerts(c, s, "probe") },
		}},
	}
}

// certsPlaybook is the one-step playbook behind "certs fetch" and "certs
// probe", in the public playbook language.
func certsPlaybook(what, endpoint, starttls, via string) (string, error) {
	for _, v := range []string{endpoint, starttls, via} {
		if strings.ContainsAny(v, "\"\\\n") || strings.Contains(v, "${") || strings.Contains(v, "%{") {
			return "", fmt.Errorf("%q contains characters an endpoint never has", v)
		}
	}
	var b strings.Builder
	if what == "fetch" {
		fmt.Fprintf(&b, "step \"cert_fetch\" \"chain\" {\n  endpoint = %q\n  via      = %q\n", endpoint, via)
	} else {
		fmt.Fprintf(&b, "step \"tls_probe\" \"probe\" {\n  endpoint = %q\n", endpoint)
	}
	if starttls != "" {
		fmt.Fprintf(&b, "  starttls = %q\n", starttls)
	}
	b.WriteString("}\n")
	return b.String(), nil
}

func runCerts(c *cli.Context, s *streams, what string) error {
	src, err := certsPlaybook(what, c.String("endpoint"), c.String("starttls"), c.String("via"))
	if err != nil {
		return exitWith(exitFailed, "%v", err)
	}
	name := "certs-" + what + ".hcl"
	rep, err := readOnlyRun(c, s, func(kinds runner.Registry) (*playbooks.Playbook, hcl.Diagnostics) {
		return playbooks.LoadFS(fstest.MapFS{name: {Data: []byte(src)}}, name, playbooks.Options{Kinds: kinds.Schemas()})
	})
	if err != nil {
		return err
	}
	view := certsView(rep, c.String("endpoint"), what)
	return showView(c, s, rep, view, func() {
		if what == "fetch" {
			writeChains(s.out, view)
		} else {
			writeProbes(s.out, view)
		}
	})
}

// CertsView is the JSON document of "certs fetch" and "certs probe".
type CertsView struct {
	FormatVersion string          `json:"format_version"`
	Endpoint      string          `json:"endpoint"`
	Hosts         []CertsHostView `json:"hosts"`
	// SameChain: every host that answered saw the same certificates.
	SameChain *bool `json:"same_chain,omitempty"`
}

// CertsHostView is one host's part.
type CertsHostView struct {
	Name     string         `json:"name"`
	Address  string         `json:"address"`
	Status   string         `json:"status"`
	Error    string         `json:"error,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
	Via      string         `json:"via,omitempty"`
	Certs    []any          `json:"certs,omitempty"`
	Probe    map[string]any `json:"probe,omitempty"`
}

func certsView(rep *runner.Report, endpoint, what string) CertsView {
	v := CertsView{FormatVersion: "1", Endpoint: endpoint}
	chains := map[string]bool{}
	for _, h := range rep.Hosts {
		hv := CertsHostView{Name: h.Name, Address: h.Address, Status: h.Status, Error: h.Error}
		if hv.Status == runner.HostOK {
			hv.Status = "ok"
		}
		if len(h.Steps) > 0 {
			st := h.Steps[0]
			if st.Error != "" {
				hv.Error = st.Error
			}
			hv.Warnings = st.Warnings
			if what == "fetch" && st.Outputs != nil {
				hv.Via, _ = st.Outputs["via"].(string)
				hv.Certs, _ = st.Outputs["certs"].([]any)
				var fps []string
				for _, c := range hv.Certs {
					if m, ok := c.(map[string]any); ok {
						delete(m, "pem")
						delete(m, "remote_path")
						fp, _ := m["sha256"].(string)
						fps = append(fps, fp)
					}
				}
				sort.Strings(fps)
				chains[strings.Join(fps, ",")] = true
			}
			if what == "probe" {
				hv.Probe = st.Outputs
			}
		}
		v.Hosts = append(v.Hosts, hv)
	}
	if what == "fetch" && len(chains) > 0 {
		same := len(chains) == 1
		v.SameChain = &same
	}
	return v
}

func writeChains(w io.Writer, v CertsView) {
	for _, h := range v.Hosts {
		fmt.Fprintf(w, "%s (%s)", h.Name, h.Address)
		if h.Error != "" {
			fmt.Fprintf(w, ": %s: %s\n\n", h.Status, h.Error)
			continue
		}
		fmt.Fprintf(w, " via %s\n", h.Via)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tROLE\tSUBJECT\tEXPIRES\tDAYS\tSHA256")
		for _, c := range h.Certs {
			m, _ := c.(map[string]any)
			notAfter, _ := m["not_after"].(string)
			if len(notAfter) >= 10 {
				notAfter = notAfter[:10]
			}
			fmt.Fprintf(tw, "  %v\t%v\t%v\t%s\t%v\t%v\n", m["name"], m["role"], m["subject"], notAfter, m["days_left"], m["sha256"])
		}
		tw.Flush()
		for _, warn := range h.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", warn)
		}
		fmt.Fprintln(w)
	}
	switch {
	case v.SameChain == nil:
		fmt.Fprintln(w, "No host returned a chain.")
	case *v.SameChain:
		fmt.Fprintf(w, "All hosts that answered see the same chain from %s.\n", v.Endpoint)
	default:
		fmt.Fprintf(w, "Warning: the hosts do not all see the same chain from %s (a proxy, a DNS difference, or a certificate rotation in progress).\n", v.Endpoint)
	}
}

func writeProbes(w io.Writer, v CertsView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tDHE\tDH BITS\tDEFAULT KEY EXCHANGE\tPROTOCOL\tCIPHER")
	for _, h := range v.Hosts {
		if h.Error != "" {
			fmt.Fprintf(tw, "%s\t%s: %s\n", h.Name, h.Status, firstLine(h.Error))
			continue
		}
		p := h.Probe
		dhe := "no"
		bits := "-"
		if offered, _ := p["dhe_offered"].(bool); offered {
			dhe = "yes"
			bits = fmt.Sprint(p["dh_bits"])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%v\n", h.Name, dhe, bits, p["default_temp_key"], p["default_protocol"], p["default_cipher"])
	}
	tw.Flush()
	for _, h := range v.Hosts {
		for _, warn := range h.Warnings {
			fmt.Fprintf(w, "%s: warning: %s\n", h.Name, warn)
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
