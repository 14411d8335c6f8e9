package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/smcfleet/smcfleet/internal/lang"
	"github.com/smcfleet/smcfleet/internal/redact"
	"github.com/smcfleet/smcfleet/internal/smc"
	"github.com/smcfleet/smcfleet/inventory"
)

func smcCommand(s *streams) *cli.Command {
	return &cli.Command{
		Name:  "smc",
		Usage: "read a Manager's configuration through its HTTPS API (changes nothing)",
		Subcommands: []*cli.Command{{
			Name:  "config",
			Usage: "the appliance configuration document",
			Subcommands: []*cli.Command{{
				Name:      "get",
				Usage:     "print a Manager's configuration document (or the part at --path), secrets redacted",
				ArgsUsage: "HOST",
				Description: `Prints the document that "Edit Appliance Configuration" edits, as JSON. Use it to
find the key names of your version (the SMTP keys are not documented
publicly) before writing an smc_config step.

Examples:
   smcfleet smc config get -i inventory.hcl smc-01
   smcfleet smc config get -i inventory.hcl smc-01 --path configurableElements.smtp`,
				Flags: []cli.Flag{
					inventoryFlag(true),
					&cli.StringFlag{Name: "path", EnvVars: env("PATH_IN_DOCUMENT"), Usage: "dotted path of the part to print, e.g. configurableElements.trustStore"},
				},
				Action: func(c *cli.Context) error { return smcConfigGet(c, s) },
			}},
		}, {
			Name:  "truststore",
			Usage: "the trust store",
			Subcommands: []*cli.Command{{
				Name:  "list",
				Usage: "list each Manager's trust store: name, subject, expiry, SHA-256",
				Description: `Examples:
   smcfleet smc truststore list -i inventory.hcl
   smcfleet smc truststore list -i inventory.hcl --limit 'smc-0*' --json`,
				Flags:  []cli.Flag{inventoryFlag(true), limitFlag, jsonFlag, &cli.IntFlag{Name: "forks", Aliases: []string{"f"}, EnvVars: env("FORKS"), Value: 10, Usage: "hosts at once"}},
				Action: func(c *cli.Context) error { return smcTrustList(c, s) },
			}},
		}},
	}
}

func loadInventory(c *cli.Context, s *streams) (*inventory.Inventory, error) {
	dp := newDiagPrinter(s.err, useColor(c, s, s.err))
	inv, diags := inventory.Load(c.String("inventory"), inventory.LoadOptions{})
	if inv != nil {
		dp.addFiles(inv.Files)
	}
	dp.print(diags)
	if diags.HasErrors() {
		return nil, codeOnly(exitFailed)
	}
	return inv, nil
}

// secretKey matches configuration keys whose values are secrets.
var secretKey = regexp.MustCompile(`(?i)(password|passwd|secret|token|credential|private.?key)`)

// redactDoc hides every value under a secret-looking key, and any known
// secret string anywhere.
func redactDoc(v any, red *redact.Redactor) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if s, ok := e.(string); ok && s != "" && secretKey.MatchString(k) {
				out[k] = lang.RedactedText
				continue
			}
			out[k] = redactDoc(e, red)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactDoc(e, red)
		}
		return out
	case string:
		return red.String(x)
	}
	return v
}

func smcConfigGet(c *cli.Context, s *streams) error {
	if c.NArg() != 1 {
		return exitWith(exitFailed, "give one HOST")
	}
	inv, err := loadInventory(c, s)
	if err != nil {
		return err
	}
	h := inv.Host(c.Args().First())
	if h == nil {
		return exitWith(exitFailed, "no host %q in %s", c.Args().First(), c.String("inventory"))
	}
	pool := newAPIPool(s.err)
	defer pool.Close()
	api, err := pool.client(h)
	if err != nil {
		return exitWith(exitFailed, "%v", err)
	}
	ctx, cancel := context.WithTimeout(c.Context, 2*time.Minute)
	defer cancel()
	id, err := api.ManagerID(ctx)
	if err != nil {
		return exitWith(exitFailed, "%s: %v", h.Name, err)
	}
	doc, etag, err := api.Config(ctx, id)
	if err != nil {
		return exitWith(exitFailed, "%s: %v", h.Name, err)
	}
	var part any = doc
	if p := c.String("path"); p != "" {
		v, ok := smc.GetPath(doc, p)
		if !ok {
			return exitWith(exitFailed, "%s: %s is not present in this Manager's configuration", h.Name, p)
		}
		part = v
	}
	fmt.Fprintf(s.err, "# %s, appliance %s, ETag %s\n", h.Name, id, etag)
	enc := json.NewEncoder(s.out)
	enc.SetIndent("", "  ")
	return enc.Encode(redactDoc(part, redact.New(h.Secrets()...)))
}

// trustView is one host's trust store, for "smc truststore list".
type trustView struct {
	Host    string       `json:"host"`
	Error   string       `json:"error,omitempty"`
	Entries []trustEntry `json:"entries,omitempty"`
}

type trustEntry struct {
	Name     string `json:"friendly_name"`
	Subject  string `json:"subject,omitempty"`
	NotAfter string `json:"not_after,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

func smcTrustList(c *cli.Context, s *streams) error {
	inv, err := loadInventory(c, s)
	if err != nil {
		return err
	}
	hosts, err := inv.Select(c.String("limit"))
	if err != nil {
		return exitWith(exitFailed, "%v", err)
	}
	pool := newAPIPool(s.err)
	defer pool.Close()
	views := make([]trustView, len(hosts))
	sem := make(chan struct{}, max(1, c.Int("forks")))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, h *inventory.Host) {
			defer wg.Done()
			defer func() { <-sem }()
			views[i] = trustStoreOf(c.Context, pool, h)
		}(i, h)
	}
	wg.Wait()
	failed := false
	if c.Bool("json") {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"format_version": "1", "hosts": views}); err != nil {
			return err
		}
	}
	for _, v := range views {
		failed = failed || v.Error != ""
		if c.Bool("json") {
			continue
		}
		if v.Error != "" {
			fmt.Fprintf(s.out, "%s: error: %s\n\n", v.Host, v.Error)
			continue
		}
		fmt.Fprintf(s.out, "%s: %d entries\n", v.Host, len(v.Entries))
		tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  FRIENDLY NAME\tSUBJECT\tEXPIRES\tSHA256")
		for _, e := range v.Entries {
			if e.Problem != "" {
				fmt.Fprintf(tw, "  %s\t(%s)\t\t\n", e.Name, e.Problem)
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.Name, e.Subject, e.NotAfter, e.SHA256)
		}
		tw.Flush()
		fmt.Fprintln(s.out)
	}
	if failed {
		return codeOnly(exitFailed)
	}
	return nil
}

func trustStoreOf(ctx context.Context, pool *apiPool, h *inventory.Host) trustView {
	v := trustView{Host: h.Name}
	red := redact.New(h.Secrets()...)
	fail := func(err error) trustView {
		v.Error = red.String(err.Error())
		return v
	}
	api, err := pool.client(h)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	id, err := api.ManagerID(ctx)
	if err != nil {
		return fail(err)
	}
	doc, _, err := api.Config(ctx, id)
	if err != nil {
		return fail(err)
	}
	certs, err := smc.TrustedCertificates(doc)
	if err != nil {
		return fail(err)
	}
	for _, t := range certs {
		e := trustEntry{Name: t.FriendlyName, SHA256: t.SHA256}
		if t.Cert == nil {
			e.Problem = "content does not parse as a certificate"
		} else {
			e.Subject = t.Cert.Subject.String()
			e.NotAfter = t.Cert.NotAfter.UTC().Format(time.DateOnly)
		}
		v.Entries = append(v.Entries, e)
	}
	sort.SliceStable(v.Entries, func(i, j int) bool { return strings.ToLower(v.Entries[i].Name) < strings.ToLower(v.Entries[j].Name) })
	return v
}
