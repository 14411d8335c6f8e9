package playbooks_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/smcfleet/smcfleet/playbooks"
	"github.com/smcfleet/smcfleet/runner"
)

func loadOpts() playbooks.Options {
	return playbooks.Options{
		Kinds:  runner.DefaultKinds().Schemas(),
		Getenv: func(string) (string, bool) { return "", false },
	}
}

func TestValidFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.hcl")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			pb, diags := playbooks.Load(f, loadOpts())
			for _, d := range diags {
				t.Errorf("unexpected diagnostic: %s", d.Error())
			}
			if pb == nil || len(pb.Steps) == 0 {
				t.Errorf("got %v steps, want some", pb)
			}
		})
	}
}

var errorMarker = regexp.MustCompile(`# ERROR: (.+)$`)

// TestInvalidFixtures checks that every line marked "# ERROR: <summary>"
// gets a diagnostic with that summary starting on that line, and that no
// other error is reported.
func TestInvalidFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.hcl")
	if len(files) < 10 {
		t.Fatalf("only %d invalid fixtures", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want := map[int][]string{}
			sc := bufio.NewScanner(bytes.NewReader(src))
			for line := 1; sc.Scan(); line++ {
				if m := errorMarker.FindStringSubmatch(sc.Text()); m != nil {
					want[line] = append(want[line], strings.TrimSpace(m[1]))
				}
			}
			if len(want) == 0 {
				t.Fatal("fixture has no # ERROR marker")
			}
			_, diags := playbooks.Load(f, loadOpts())
			got := map[int][]string{}
			for _, d := range diags {
				if d.Severity != hcl.DiagError {
					continue
				}
				if d.Subject == nil {
					t.Errorf("diagnostic without a source range: %s", d.Error())
					continue
				}
				got[d.Subject.Start.Line] = append(got[d.Subject.Start.Line], d.Summary)
			}
			for line, sums := range want {
				for _, s := range sums {
					if !contains(got[line], s) {
						t.Errorf("line %d: got errors %q, want %q", line, got[line], s)
					}
				}
			}
			for line, sums := range got {
				for _, s := range sums {
					if !contains(want[line], s) {
						t.Errorf("line %d: unexpected error %q", line, s)
					}
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
