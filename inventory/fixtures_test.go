package inventory

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// testEnv is the environment every test sees instead of the process's.
var testEnv = map[string]string{
	"HOME":             "/home/tester",
	"USER":             "tester",
	"SMC_API_PASSWORD": "api-pa55-from-env",
	"SMC_PORT":         "2222",
	"SMC_JUMP":         "jump.example.com",
}

func testOptions() LoadOptions {
	return LoadOptions{Getenv: func(name string) (string, bool) {
		v, ok := testEnv[name]
		return v, ok
	}}
}

func TestValidFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid fixtures: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			inv, diags := Load(path, testOptions())
			if len(diags) > 0 {
				t.Fatalf("Load(%s): unexpected diagnostics:\n%s", path, renderDiags(inv, diags))
			}
			if len(inv.Hosts) == 0 {
				t.Fatalf("Load(%s): no hosts", path)
			}
		})
	}
}

var errorComment = regexp.MustCompile(`#\s*ERROR:\s*(.+?)\s*$`)

type wantDiag struct {
	line    int
	summary string
}

// TestInvalidFixtures checks that each "# ERROR: <summary>" comment gets an
// error diagnostic with that summary starting on its line, and that there
// are no other errors.
func TestInvalidFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.hcl")
	if err != nil || len(files) < 10 {
		t.Fatalf("want at least 10 invalid fixtures, got %d (%v)", len(files), err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var wants []wantDiag
			sc := bufio.NewScanner(bytes.NewReader(src))
			for line := 1; sc.Scan(); line++ {
				if m := errorComment.FindStringSubmatch(sc.Text()); m != nil {
					wants = append(wants, wantDiag{line, m[1]})
				}
			}
			if len(wants) == 0 {
				t.Fatalf("%s has no # ERROR: comment", path)
			}

			inv, diags := Load(path, testOptions())
			matched := make([]bool, len(diags))
			for _, w := range wants {
				found := false
				for i, d := range diags {
					if d.Severity == hcl.DiagError && d.Subject != nil &&
						d.Subject.Start.Line == w.line && strings.Contains(d.Summary, w.summary) {
						matched[i], found = true, true
					}
				}
				if !found {
					t.Errorf("%s:%d: got no error %q; diagnostics:\n%s", path, w.line, w.summary, renderDiags(inv, diags))
				}
			}
			for i, d := range diags {
				if d.Severity == hcl.DiagError && !matched[i] {
					t.Errorf("unexpected error: %s", diagString(d))
				}
			}
		})
	}
}

func diagString(d *hcl.Diagnostic) string {
	where := "(no range)"
	if d.Subject != nil {
		where = fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
	}
	return fmt.Sprintf("%s: %s; %s", where, d.Summary, d.Detail)
}

func renderDiags(inv *Inventory, diags hcl.Diagnostics) string {
	var buf bytes.Buffer
	var files map[string]*hcl.File
	if inv != nil {
		files = inv.Files
	}
	w := hcl.NewDiagnosticTextWriter(&buf, files, 100, false)
	if err := w.WriteDiagnostics(diags); err != nil {
		return err.Error()
	}
	return buf.String()
}

// FuzzParse checks that no input makes Parse panic.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.hcl"))
		for _, path := range files {
			src, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	opts := testOptions()
	f.Fuzz(func(t *testing.T, src []byte) {
		inv, diags := Parse(src, "testdata/valid/fuzz.hcl", opts)
		if inv == nil {
			t.Fatalf("Parse returned a nil inventory (diags: %v)", diags)
		}
	})
}
