package inventory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/smcfleet/smcfleet/internal/lang"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// HostView is a host as `inventory list` shows it: plain values, every
// secret replaced by lang.RedactedText or reduced to "is it set".
type HostView struct {
	Name           string         `json:"name"`
	Address        string         `json:"address"`
	Port           int            `json:"port"`
	User           string         `json:"user"`
	IdentityFiles  []string       `json:"identity_files"`
	SSHAgent       bool           `json:"ssh_agent"`
	PasswordSet    bool           `json:"password_set"`
	KnownHosts     string         `json:"known_hosts,omitempty"`
	HostKeys       []string       `json:"host_keys"`
	Jump           []string       `json:"jump"`
	ConnectTimeout string         `json:"connect_timeout"`
	SSHConfig      string         `json:"ssh_config,omitempty"`
	Groups         []string       `json:"groups"`
	Vars           map[string]any `json:"vars"`
	API            *APIView       `json:"api,omitempty"`
}

// APIView is the api part of a HostView.
type APIView struct {
	URL               string `json:"url"`
	Username          string `json:"username,omitempty"`
	PasswordSet       bool   `json:"password_set"`
	CAFile            string `json:"ca_file,omitempty"`
	FingerprintSHA256 string `json:"fingerprint_sha256,omitempty"`
	Insecure          bool   `json:"insecure"`
}

// View returns h for display, without secrets.
func (h *Host) View() HostView {
	show := func(field, s string) string {
		if h.sensitive[field] {
			return lang.RedactedText
		}
		return s
	}
	showList := func(field string, list []string) []string {
		out := make([]string, len(list))
		for i, s := range list {
			out[i] = show(fmt.Sprintf("%s[%d]", field, i), s)
		}
		return out
	}
	v := HostView{
		Name:           h.Name,
		Address:        show("address", h.Address),
		Port:           h.Port,
		User:           show("user", h.User),
		IdentityFiles:  showList("identity_files", h.IdentityFiles),
		SSHAgent:       h.SSHAgent,
		PasswordSet:    h.Password != "",
		KnownHosts:     show("known_hosts", h.KnownHosts),
		HostKeys:       showList("host_keys", h.HostKeys),
		Jump:           nonNil(slices.Clone(h.Jump)),
		ConnectTimeout: h.ConnectTimeout.String(),
		SSHConfig:      h.SSHConfig,
		Groups:         nonNil(slices.Clone(h.Groups)),
		Vars:           map[string]any{},
	}
	for k, val := range h.Vars {
		v.Vars[k] = plainValue(val)
	}
	if h.API != nil {
		v.API = &APIView{
			URL:               show("api.url", h.API.URL),
			Username:          show("api.username", h.API.Username),
			PasswordSet:       h.API.Password != "",
			CAFile:            show("api.ca_file", h.API.CAFile),
			FingerprintSHA256: show("api.fingerprint_sha256", h.API.FingerprintSHA256),
			Insecure:          h.API.Insecure,
		}
	}
	return v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// plainValue turns a cty value into what encoding/json makes of its JSON,
// secrets redacted. Numbers stay exact as json.Number.
func plainValue(v cty.Value) any {
	v = lang.Redact(v)
	if v.IsNull() {
		return nil
	}
	if !v.IsWhollyKnown() {
		return lang.ShowValue(v)
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return lang.ShowValue(v)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return lang.ShowValue(v)
	}
	return out
}

// ListFormatVersion is the format_version of WriteList's JSON.
const ListFormatVersion = "1"

// WriteList writes hosts for `inventory list`: a table followed by each
// host's vars, or JSON {"format_version": "1", "hosts": [HostView...]}.
// Secrets are redacted either way.
func WriteList(w io.Writer, hosts []*Host, asJSON bool) error {
	views := make([]HostView, len(hosts))
	for i, h := range hosts {
		views[i] = h.View()
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			FormatVersion string     `json:"format_version"`
			Hosts         []HostView `json:"hosts"`
		}{ListFormatVersion, views})
	}

	ew := &errWriter{w: w}
	tw := tabwriter.NewWriter(ew, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tPORT\tUSER\tGROUPS")
	for _, v := range views {
		groups := strings.Join(v.Groups, ",")
		if groups == "" {
			groups = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, v.Address, strconv.Itoa(v.Port), v.User, groups)
	}
	tw.Flush()
	for i, h := range hosts {
		if len(h.Vars) == 0 {
			continue
		}
		keys := make([]string, 0, len(h.Vars))
		for k := range h.Vars {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Fprintf(ew, "\n%s vars:\n", views[i].Name)
		tw := tabwriter.NewWriter(ew, 0, 8, 1, ' ', 0)
		for _, k := range keys {
			fmt.Fprintf(tw, "  %s\t= %s\n", k, lang.ShowValue(h.Vars[k]))
		}
		tw.Flush()
	}
	if ew.err != nil {
		return fmt.Errorf("write host list: %w", ew.err)
	}
	return nil
}

// errWriter keeps the first write error, so a sequence of writes needs one
// check at the end.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
