package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

func eval(t *testing.T, src string, fns *hcl.EvalContext) cty.Value {
	t.Helper()
	expr, diags := hclsyntax.ParseExpression([]byte(src), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	v, diags := expr.Value(fns)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return v
}

func TestSecretsAreMarked(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw.txt"), []byte("file-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	var seen []string
	ctx := &hcl.EvalContext{Functions: FunctionsWithHook(dir, func(k string) (string, bool) {
		return map[string]string{"TOKEN": "env-secret"}[k], k == "TOKEN"
	}, func(s string) { seen = append(seen, s) })}

	v := eval(t, `{ url = "https://u:${env("TOKEN")}@x", pw = file("pw.txt"), plain = "ok", mixed = nonsensitive(upper(env("TOKEN"))) }`, ctx)
	if !IsSensitive(v) {
		t.Error("object holding secrets: got not sensitive")
	}
	if got := ShowValue(v.GetAttr("url")); got != RedactedText {
		t.Errorf("ShowValue(url): got %q, want %q", got, RedactedText)
	}
	if got := v.GetAttr("mixed"); IsSensitive(got) || got.AsString() != "ENV-SECRET" {
		t.Errorf("nonsensitive(upper(env)): got %#v, want plain ENV-SECRET", got)
	}
	red := Redact(v)
	if got := red.GetAttr("pw").AsString(); got != RedactedText {
		t.Errorf("Redact(pw): got %q", got)
	}
	if got := red.GetAttr("plain").AsString(); got != "ok" {
		t.Errorf("Redact(plain): got %q, want ok", got)
	}
	secrets := strings.Join(SecretStrings(v), "|")
	for _, want := range []string{"https://u:env-secret@x", "file-secret"} {
		if !strings.Contains(secrets, want) {
			t.Errorf("SecretStrings: got %q, want it to contain %q", secrets, want)
		}
	}
	if strings.Join(seen, "|") != "env-secret|file-secret|env-secret" {
		t.Errorf("hook: got %q, want each env()/file() result", seen)
	}
}

func TestFileGuards(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := &hcl.EvalContext{Functions: Functions(dir, nil)}
	for _, src := range []string{`file("big")`, `file(".")`, `file("missing")`, `env("SMCFLEET_SURELY_UNSET_VARIABLE")`} {
		expr, _ := hclsyntax.ParseExpression([]byte(src), "t.hcl", hcl.InitialPos)
		if _, diags := expr.Value(ctx); !diags.HasErrors() {
			t.Errorf("%s: got no error", src)
		}
	}
}
