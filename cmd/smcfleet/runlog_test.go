package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestRunLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "smcfleet.log")
	for run := 0; run < 2; run++ {
		w, closeLog, err := openRunLog(path)
		if err != nil {
			t.Fatal(err)
		}
		var screen bytes.Buffer
		out := teeWriter(&screen, w)
		out.Write([]byte("\x1b[1msmc-01\x1b[0m  \x1b[3"))             // an escape split across writes
		out.Write([]byte("3m~ file.x\x1b[0m  changed\n\x1b]0;t\x07")) // and an OSC title
		out.Write([]byte("no newline"))
		if err := closeLog(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(screen.String(), "\x1b[1msmc-01") {
			t.Errorf("the screen lost its colours: %q", screen.String())
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^(== \S*smcfleet\S* .*\d{4}-\d\d-\d\dT\S+ ==\nsmc-01  ~ file\.x  changed\nno newline\n){2}$`)
	if !re.Match(b) {
		t.Errorf("log:\n%s", b)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", st.Mode().Perm())
	}
}

func TestTeeWriterNilLog(t *testing.T) {
	var b bytes.Buffer
	if teeWriter(&b, nil) != &b {
		t.Error("a nil log should return w")
	}
}
