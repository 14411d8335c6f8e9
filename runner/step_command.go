package runner

import (
	"context"
	"fmt"
	"math/big"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

func commandKind() *Kind {
	return &Kind{
		Name:    "command",
		Summary: "Run a remote command; creates, unless and only_if guards make it idempotent.",
		Spec: hcldec.ObjectSpec{
			"cmd":           &hcldec.AttrSpec{Name: "cmd", Type: cty.String, Required: true},
			"creates":       &hcldec.AttrSpec{Name: "creates", Type: cty.String},
			"unless":        &hcldec.AttrSpec{Name: "unless", Type: cty.String},
			"only_if":       &hcldec.AttrSpec{Name: "only_if", Type: cty.String},
			"ok_exit_codes": &hcldec.AttrSpec{Name: "ok_exit_codes", Type: cty.List(cty.Number)},
		},
		Outputs: cty.Object(map[string]cty.Type{
			"stdout":    cty.String,
			"stderr":    cty.String,
			"exit_code": cty.Number,
			"ran":       cty.Bool,
		}),
		New: newCommandAction,
	}
}

type commandAction struct {
	cmd, creates, unless, onlyIf string
	okCodes                      map[int]bool
}

func newCommandAction(cfg cty.Value) (Action, error) {
	a := &commandAction{
		cmd:     getString(cfg, "cmd"),
		creates: getString(cfg, "creates"),
		unless:  getString(cfg, "unless"),
		onlyIf:  getString(cfg, "only_if"),
		okCodes: map[int]bool{0: true},
	}
	if strings.TrimSpace(a.cmd) == "" {
		return nil, fmt.Errorf("cmd is empty")
	}
	if v, _ := cfg.GetAttr("ok_exit_codes").Unmark(); !v.IsNull() {
		a.okCodes = map[int]bool{}
		for it := v.ElementIterator(); it.Next(); {
			_, n := it.Element()
			n, _ = n.Unmark()
			i, acc := n.AsBigFloat().Int64()
			if acc != big.Exact || i < 0 || i > 255 {
				return nil, fmt.Errorf("ok_exit_codes: %s is not an exit code (0-255)", n.AsBigFloat().String())
			}
			a.okCodes[int(i)] = true
		}
	}
	return a, nil
}

func (a *commandAction) Check(ctx context.Context, env *Env) (*Change, error) {
	ch, obs, err := a.check(ctx, env)
	if ch != nil {
		// What the guards saw (their exit codes and output: container
		// state a guard reads included) is the precondition.
		ch.Observed = fingerprint(append([]string{"command"}, obs...)...)
	}
	return ch, err
}

func (a *commandAction) check(ctx context.Context, env *Env) (*Change, []string, error) {
	var obs []string
	notRun := commandOutputs("", "", 0, false)
	if a.creates != "" {
		st, err := env.Conn.Stat(ctx, a.creates)
		if err != nil {
			return nil, nil, fmt.Errorf("creates guard: stat %s: %w", a.creates, err)
		}
		obs = append(obs, fmt.Sprintf("creates %s exists=%t", a.creates, st.Exists))
		if st.Exists {
			return &Change{Action: ActionNone, Summary: fmt.Sprintf("%s exists (creates)", a.creates), Outputs: notRun}, obs, nil
		}
	}
	if a.unless != "" {
		res, err := env.Conn.Run(ctx, a.unless, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("unless guard: %w", err)
		}
		obs = append(obs, fmt.Sprintf("unless exit=%d", res.ExitCode), string(res.Stdout))
		if res.ExitCode == 0 {
			return &Change{Action: ActionNone, Summary: fmt.Sprintf("unless `%s` succeeded", a.unless), Outputs: notRun}, obs, nil
		}
	}
	if a.onlyIf != "" {
		res, err := env.Conn.Run(ctx, a.onlyIf, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("only_if guard: %w", err)
		}
		obs = append(obs, fmt.Sprintf("only_if exit=%d", res.ExitCode), string(res.Stdout))
		if res.ExitCode != 0 {
			return &Change{Action: ActionNone, Summary: fmt.Sprintf("only_if `%s` failed (exit %d)", a.onlyIf, res.ExitCode), Outputs: notRun}, obs, nil
		}
	}
	summary := fmt.Sprintf("`%s`", a.cmd)
	if lines := strings.Split(strings.TrimSpace(a.cmd), "\n"); len(lines) > 1 {
		summary = fmt.Sprintf("`%s …` (%d lines)", strings.TrimSpace(lines[0]), len(lines))
	}
	if a.creates == "" && a.unless == "" && a.onlyIf == "" {
		summary += " (no guard: it runs on every apply)"
	}
	return &Change{Action: ActionRun, Summary: summary}, obs, nil
}

func (a *commandAction) Apply(ctx context.Context, env *Env, _ *Change) (cty.Value, error) {
	res, err := env.Conn.Run(ctx, a.cmd, nil)
	if err != nil {
		return cty.NilVal, fmt.Errorf("run `%s`: %w", a.cmd, err)
	}
	if !a.okCodes[res.ExitCode] {
		msg := fmt.Sprintf("`%s` exited with status %d", a.cmd, res.ExitCode)
		if res.Signal != "" {
			msg = fmt.Sprintf("`%s` was killed by signal %s", a.cmd, res.Signal)
		}
		if tail := lastLines(string(res.Stderr), 5); tail != "" {
			msg += ": " + tail
		} else if tail := lastLines(string(res.Stdout), 5); tail != "" {
			msg += ": " + tail
		}
		return cty.NilVal, fmt.Errorf("%s", msg)
	}
	return commandOutputs(string(res.Stdout), string(res.Stderr), res.ExitCode, true), nil
}

func commandOutputs(stdout, stderr string, code int, ran bool) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"stdout":    cty.StringVal(stdout),
		"stderr":    cty.StringVal(stderr),
		"exit_code": cty.NumberIntVal(int64(code)),
		"ran":       cty.BoolVal(ran),
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
