package playbooks_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/zclconf/go-cty/cty"

	"github.com/smcfleet/smcfleet/internal/lang"
	"github.com/smcfleet/smcfleet/playbooks"
)

const varsPlaybook = `
variable "region" {
  type    = string
  default = "us-east-1"
  validation {
    condition     = can(regex("^[a-z]{2}-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}
variable "port" {
  type    = number
  default = 587
}
variable "secret" {
  type      = string
  sensitive = true
}
step "command" "x" {
  cmd = "echo ${var.region} ${var.port}"
}
`

func loadVarsPlaybook(t *testing.T, getenv map[string]string) *playbooks.Playbook {
	t.Helper()
	opts := loadOpts()
	opts.Getenv = func(k string) (string, bool) { v, ok := getenv[k]; return v, ok }
	fsys := fstest.MapFS{"pb.hcl": {Data: []byte(varsPlaybook)}}
	pb, diags := playbooks.LoadFS(fsys, "pb.hcl", opts)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return pb
}

func TestVariablePrecedence(t *testing.T) {
	dir := t.TempDir()
	varFile := filepath.Join(dir, "vars.hcl")
	if err := os.WriteFile(varFile, []byte("port = 2587\nunknown_one = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := map[string]cty.Value{"region": cty.StringVal("eu-west-1"), "port": cty.NumberIntVal(25)}
	tests := []struct {
		name       string
		env        map[string]string
		flags      []string
		files      []string
		inventory  map[string]cty.Value
		wantRegion string
		wantPort   int64
		wantSource playbooks.Source
	}{
		{"defaults", nil, nil, nil, nil, "us-east-1", 587, playbooks.SourceDefault},
		{"env beats default", map[string]string{"SMCFLEET_VAR_region": "us-west-2"}, nil, nil, nil, "us-west-2", 587, playbooks.SourceEnv},
		{"inventory beats env", map[string]string{"SMCFLEET_VAR_region": "us-west-2"}, nil, nil, inv, "eu-west-1", 25, playbooks.SourceInventory},
		{"var file beats inventory", nil, nil, []string{varFile}, inv, "eu-west-1", 2587, playbooks.SourceInventory},
		{"flag beats all", map[string]string{"SMCFLEET_VAR_port": "1"}, []string{"port=465", "region=ap-south-1"}, []string{varFile}, inv, "ap-south-1", 465, playbooks.SourceFlag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"SMCFLEET_VAR_secret": "hunter2"}
			for k, v := range tt.env {
				env[k] = v
			}
			pb := loadVarsPlaybook(t, env)
			vs, diags := pb.PrepareVars(playbooks.VarInputs{
				Assignments: tt.flags, Files: tt.files,
				Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			})
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			vals, src, diags := vs.ForHost("smc-01", tt.inventory)
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			if got := vals["region"].AsString(); got != tt.wantRegion {
				t.Errorf("region: got %q, want %q", got, tt.wantRegion)
			}
			if got, _ := vals["port"].AsBigFloat().Int64(); got != tt.wantPort {
				t.Errorf("port: got %d, want %d", got, tt.wantPort)
			}
			if got := src["region"]; got != tt.wantSource {
				t.Errorf("region source: got %q, want %q", got, tt.wantSource)
			}
			if !lang.IsSensitive(vals["secret"]) {
				t.Errorf("secret: got not sensitive, want sensitive")
			}
		})
	}
}

func TestVariableErrors(t *testing.T) {
	pb := loadVarsPlaybook(t, nil)
	getenv := func(k string) (string, bool) { return "", false }

	_, diags := pb.PrepareVars(playbooks.VarInputs{Assignments: []string{"regoin=x"}, Getenv: getenv})
	if !strings.Contains(diags.Error(), `Did you mean "region"`) {
		t.Errorf("undeclared --var: got %q, want a suggestion", diags.Error())
	}

	vs, diags := pb.PrepareVars(playbooks.VarInputs{Assignments: []string{"region=nowhere", "port=many"}, Getenv: getenv})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	_, _, diags = vs.ForHost("smc-01", nil)
	var parts []string
	for _, d := range diags {
		parts = append(parts, d.Summary+": "+d.Detail)
	}
	text := strings.Join(parts, "\n")
	for _, want := range []string{"region must look like us-east-1", "No value for required variable", "var.port from --var must be number"} {
		if !strings.Contains(text, want) {
			t.Errorf("got %q, want it to contain %q", text, want)
		}
	}
}
