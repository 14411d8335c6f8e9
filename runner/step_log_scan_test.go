package runner

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata" // timezone names without the system database

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/smcfleet/smcfleet/internal/remote"
)

// logScanConn is a read-only Conn over a local directory that counts the
// bytes read through Open. access says what the opened file offers:
// "seek" (io.Seeker), "readat" (io.ReaderAt only) or "stream" (neither).
type logScanConn struct {
	root   string
	access string
	read   atomic.Int64
	opened []string
}

func (c *logScanConn) local(p string) string { return filepath.Join(c.root, filepath.FromSlash(p)) }

func (c *logScanConn) Run(context.Context, string, io.Reader) (remote.CmdResult, error) {
	return remote.CmdResult{}, errors.New("log_scan must not run commands")
}

func (c *logScanConn) Stat(_ context.Context, p string) (remote.FileInfo, error) {
	st, err := os.Stat(c.local(p))
	if errors.Is(err, fs.ErrNotExist) {
		return remote.FileInfo{Path: p}, nil
	}
	if err != nil {
		return remote.FileInfo{}, err
	}
	return remote.FileInfo{Path: p, Exists: true, IsDir: st.IsDir(), Size: st.Size(), Mode: st.Mode().Perm(), ModTime: st.ModTime()}, nil
}

func (c *logScanConn) ReadFile(context.Context, string, int64) ([]byte, error) {
	return nil, errors.New("log_scan must read through Open")
}

func (c *logScanConn) WriteFile(context.Context, string, []byte, remote.WriteOptions) error {
	return errors.New("read-only")
}

func (c *logScanConn) CopyNoClobber(context.Context, string, string) (bool, error) {
	return false, errors.New("read-only")
}

func (c *logScanConn) MkdirAll(context.Context, string, fs.FileMode) error {
	return errors.New("read-only")
}

func (c *logScanConn) Remove(context.Context, string) error {
	return errors.New("log_scan must not remove")
}

func (c *logScanConn) Glob(_ context.Context, pattern string) ([]string, error) {
	m, err := filepath.Glob(c.local(pattern))
	var out []string
	for _, p := range m {
		out = append(out, filepath.ToSlash(strings.TrimPrefix(p, c.root)))
	}
	return out, err
}

func (c *logScanConn) Close() error { return nil }

type countedFile struct {
	f *os.File
	n *atomic.Int64
}

func (f countedFile) Read(p []byte) (int, error) {
	n, err := f.f.Read(p)
	f.n.Add(int64(n))
	return n, err
}
func (f countedFile) Close() error { return f.f.Close() }

type seekFile struct{ countedFile }

func (f seekFile) Seek(off int64, whence int) (int64, error) { return f.f.Seek(off, whence) }

type readAtFile struct{ countedFile }

func (f readAtFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.f.ReadAt(p, off)
	f.n.Add(int64(n))
	return n, err
}

func (c *logScanConn) Open(_ context.Context, p string) (io.ReadCloser, error) {
	f, err := os.Open(c.local(p))
	if err != nil {
		return nil, err
	}
	c.opened = append(c.opened, p)
	cf := countedFile{f: f, n: &c.read}
	switch c.access {
	case "readat":
		return readAtFile{cf}, nil
	case "stream":
		return cf, nil
	}
	return seekFile{cf}, nil
}

// The troubleshooting table of the procedure, as the diagnose playbook
// has it.
const logScanPatterns = `
  patterns = [
    { name = "unverified_identity", regex = "554 Message rejected: Email address is not verified", fix = "set From Email", remedy = "apply ses-smtp" },
    { name = "invalid_credentials", regex = "535 Authentication Credentials Invalid", fix = "new SMTP credentials" },
    { name = "untrusted_chain", regex = "SunCertPathBuilderException: unable to find valid certification path to requested target" },
    { name = "dh_key_too_small", regex = "tls_process_ske_dhe:dh key too small", fix = "remove DHE", remedy = "apply dh-cipher-fix" },
  ]
  unknown_fix = "open a TAC case"
`

var logScanNow = time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)

func newLogScan(t *testing.T, body string) *logScanAction {
	t.Helper()
	a, err := decodeLogScan(body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func decodeLogScan(body string) (*logScanAction, error) {
	f, diags := hclsyntax.ParseConfig([]byte(body), "test.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	cfg, diags := hcldec.Decode(f.Body, LogScanKind().Spec, nil)
	if diags.HasErrors() {
		return nil, diags
	}
	act, err := LogScanKind().New(cfg)
	if err != nil {
		return nil, err
	}
	a := act.(*logScanAction)
	a.now = func() time.Time { return logScanNow }
	return a, nil
}

// managerLine is a line as the Manager (and the lab) logs a failed test
// action.
func managerLine(t time.Time, exception string) string {
	return fmt.Sprintf("%s ERROR [response-action-1] c.l.sw.response.action.EmailActionExecutor - Test action failed: %s\n",
		t.UTC().Format("2006-01-02 15:04:05,000"), exception)
}

func infoLine(t time.Time, msg string) string {
	return fmt.Sprintf("%s INFO  [main] c.l.sw.response.Application - %s\n", t.UTC().Format("2006-01-02 15:04:05,000"), msg)
}

func writeLog(t *testing.T, root, p, content string) {
	t.Helper()
	full := filepath.Join(root, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func gzipText(t *testing.T, s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

type logScanOut struct {
	Files    []string
	Findings map[string]logScanFinding
	Order    []string
	Unknown  []logScanFinding
	Missing  bool
	Summary  string
	Details  []string
	Warnings []string
}

type logScanFinding struct {
	Count                     int
	Last, Sample, Fix, Remedy string
}

func runLogScan(t *testing.T, a *logScanAction, c *logScanConn) logScanOut {
	t.Helper()
	var out logScanOut
	env := &Env{Conn: c, Host: Target{Name: "smc-01"}, Warn: func(m string) { out.Warnings = append(out.Warnings, m) }}
	ch, err := a.Check(context.Background(), env)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if ch.Action != ActionNone {
		t.Errorf("action: got %s, want none", ch.Action)
	}
	if !ch.Outputs.Type().Equals(LogScanKind().Outputs) {
		t.Fatalf("outputs type %#v, want %#v", ch.Outputs.Type(), LogScanKind().Outputs)
	}
	out.Summary, out.Details = ch.Summary, ch.Details
	o := ch.Outputs
	for it := o.GetAttr("files").ElementIterator(); it.Next(); {
		_, v := it.Element()
		out.Files = append(out.Files, v.AsString())
	}
	finding := func(v cty.Value) logScanFinding {
		n, _ := v.GetAttr("count").AsBigFloat().Int64()
		f := logScanFinding{Count: int(n), Last: v.GetAttr("last").AsString(), Sample: v.GetAttr("sample").AsString(), Fix: v.GetAttr("fix").AsString()}
		if v.Type().HasAttribute("remedy") {
			f.Remedy = v.GetAttr("remedy").AsString()
		}
		return f
	}
	out.Findings = map[string]logScanFinding{}
	for it := o.GetAttr("findings").ElementIterator(); it.Next(); {
		_, v := it.Element()
		name := v.GetAttr("name").AsString()
		out.Order = append(out.Order, name)
		out.Findings[name] = finding(v)
	}
	for it := o.GetAttr("unknown").ElementIterator(); it.Next(); {
		_, v := it.Element()
		out.Unknown = append(out.Unknown, finding(v))
	}
	out.Missing = o.GetAttr("missing").True()
	return out
}

const (
	reponse  = "/lancope/var/logs/containers/sw-reponse-mgmt.log"
	response = "/lancope/var/logs/containers/sw-response-mgmt.log"
)

func TestLogScanBothSpellingsRotatedAndGzip(t *testing.T) {
	root := t.TempDir()
	h := func(n int) time.Time { return logScanNow.Add(-time.Duration(n) * time.Hour) }
	writeLog(t, root, reponse+".2.gz", gzipText(t, managerLine(h(50), "javax.net.ssl.SSLException: error:0A00018A:SSL routines:tls_process_ske_dhe:dh key too small")))
	writeLog(t, root, reponse+".1", managerLine(h(30), "javax.mail.AuthenticationFailedException: 535 Authentication Credentials Invalid"))
	writeLog(t, root, reponse, infoLine(h(5), "started")+
		managerLine(h(4), "javax.mail.AuthenticationFailedException: 535 Authentication Credentials Invalid"))
	writeLog(t, root, response, managerLine(h(2), "com.sun.mail.smtp.SMTPSendFailedException: 554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: alerts@nope.example"))
	writeLog(t, root, reponse+".3", "")                                                           // empty rotation: scanned, nothing found
	writeLog(t, root, reponse+".4", managerLine(h(90), "535 Authentication Credentials Invalid")) // beyond rotated = 3

	a := newLogScan(t, `paths = ["`+reponse+`", "`+response+`"]`+logScanPatterns)
	c := &logScanConn{root: root}
	out := runLogScan(t, a, c)

	wantFiles := []string{reponse + ".3", reponse + ".2.gz", reponse + ".1", reponse, response}
	if strings.Join(out.Files, ",") != strings.Join(wantFiles, ",") {
		t.Errorf("files:\n got %q\nwant %q", out.Files, wantFiles)
	}
	if out.Missing {
		t.Error("missing: got true")
	}
	if got := strings.Join(out.Order, ","); got != "unverified_identity,invalid_credentials,dh_key_too_small" {
		t.Errorf("findings in pattern order: got %s", got)
	}
	cred := out.Findings["invalid_credentials"]
	if cred.Count != 2 || cred.Last != h(4).Format(time.RFC3339) || !strings.HasPrefix(cred.Sample, h(4).Format("2006-01-02 15:04:05")) {
		t.Errorf("invalid_credentials: %+v", cred)
	}
	if cred.Fix != "new SMTP credentials" || cred.Remedy != "" {
		t.Errorf("optional fix/remedy: %+v", cred)
	}
	if u := out.Findings["unverified_identity"]; u.Count != 1 || u.Remedy != "apply ses-smtp" || !strings.Contains(u.Sample, "alerts@nope.example") {
		t.Errorf("unverified_identity: %+v", u)
	}
	if d := out.Findings["dh_key_too_small"]; d.Count != 1 || d.Last != h(50).Format(time.RFC3339) {
		t.Errorf("dh_key_too_small (from the .gz rotation): %+v", d)
	}
	if len(out.Unknown) != 0 {
		t.Errorf("unknown: %+v", out.Unknown)
	}
	if !strings.Contains(out.Summary, "5 file(s)") || !strings.Contains(out.Summary, "invalid_credentials ×2") {
		t.Errorf("summary: %s", out.Summary)
	}

	// rotated = 0: the current files only.
	a = newLogScan(t, `paths = ["`+reponse+`", "`+response+`"]
  rotated = 0`+logScanPatterns)
	out = runLogScan(t, a, &logScanConn{root: root})
	if strings.Join(out.Files, ",") != reponse+","+response || out.Findings["invalid_credentials"].Count != 1 {
		t.Errorf("rotated = 0: %+v", out)
	}

	// A glob finds both spellings, once each.
	a = newLogScan(t, `paths = ["/lancope/var/logs/containers/sw-re*mgmt.log", "`+reponse+`"]
  rotated = 0`+logScanPatterns)
	out = runLogScan(t, a, &logScanConn{root: root})
	if strings.Join(out.Files, ",") != reponse+","+response {
		t.Errorf("glob: files %q", out.Files)
	}
}

func TestLogScanMissing(t *testing.T) {
	a := newLogScan(t, `paths = ["`+reponse+`", "`+response+`", "/var/log/none-*.log"]`+logScanPatterns)
	out := runLogScan(t, a, &logScanConn{root: t.TempDir()})
	if !out.Missing || len(out.Files) != 0 || len(out.Findings) != 0 || len(out.Unknown) != 0 {
		t.Errorf("got %+v", out)
	}
	if !strings.Contains(out.Summary, "no log file found") {
		t.Errorf("summary: %s", out.Summary)
	}
}

func TestLogScanTailBound(t *testing.T) {
	root := t.TempDir()
	old := logScanNow.Add(-72 * time.Hour)
	var b strings.Builder
	b.WriteString(managerLine(old, "javax.mail.AuthenticationFailedException: 535 Authentication Credentials Invalid"))
	for b.Len() < 4<<20 {
		b.WriteString(infoLine(old, "polling for actions, nothing to do"))
	}
	b.WriteString(managerLine(logScanNow.Add(-time.Hour), "com.sun.mail.smtp.SMTPSendFailedException: 554 Message rejected: Email address is not verified."))
	writeLog(t, root, reponse, b.String())
	size := int64(b.Len())
	const tail = 64 << 10

	for _, access := range []string{"seek", "readat", "stream"} {
		t.Run(access, func(t *testing.T) {
			a := newLogScan(t, `paths = ["`+reponse+`"]
  tail_bytes = 65536`+logScanPatterns)
			c := &logScanConn{root: root, access: access}
			out := runLogScan(t, a, c)
			read := c.read.Load()
			if access == "stream" {
				// No random access: the whole file streams through a ring.
				if read != size {
					t.Errorf("read %d bytes, want the whole %d", read, size)
				}
			} else if read > tail+1 {
				t.Errorf("read %d bytes of a %d-byte file, want at most tail_bytes+1 = %d", read, size, tail+1)
			}
			if _, ok := out.Findings["invalid_credentials"]; ok {
				t.Error("the error at the start of the file is outside the tail but was found")
			}
			if out.Findings["unverified_identity"].Count != 1 {
				t.Errorf("the error in the tail: %+v", out.Findings)
			}
			if len(out.Unknown) != 0 {
				t.Errorf("a partial first line made an unknown error: %+v", out.Unknown)
			}
		})
	}
}

func TestLogScanPartialFirstLine(t *testing.T) {
	root := t.TempDir()
	first := managerLine(logScanNow, "java.lang.IllegalStateException: "+strings.Repeat("x", 200))
	second := managerLine(logScanNow, "javax.mail.AuthenticationFailedException: 535 Authentication Credentials Invalid")
	writeLog(t, root, reponse, first+second)
	// The tail starts 10 bytes into the first line: that line is dropped.
	a := newLogScan(t, fmt.Sprintf("paths = [%q]\ntail_bytes = %d\n%s", reponse, len(second)+10, logScanPatterns))
	out := runLogScan(t, a, &logScanConn{root: root})
	if len(out.Unknown) != 0 || out.Findings["invalid_credentials"].Count != 1 {
		t.Errorf("cut in the middle of a line: %+v", out)
	}
	// The tail starts exactly at a line: that line counts.
	a = newLogScan(t, fmt.Sprintf("paths = [%q]\ntail_bytes = %d\n%s", reponse, len(second), logScanPatterns))
	out = runLogScan(t, a, &logScanConn{root: root})
	if out.Findings["invalid_credentials"].Count != 1 {
		t.Errorf("cut at a line boundary: %+v", out)
	}
}

func TestLogScanSince(t *testing.T) {
	root := t.TempDir()
	writeLog(t, root, reponse,
		managerLine(logScanNow.Add(-10*24*time.Hour), "535 Authentication Credentials Invalid")+
			managerLine(logScanNow.Add(-48*time.Hour), "535 Authentication Credentials Invalid")+
			managerLine(logScanNow.Add(-time.Hour), "535 Authentication Credentials Invalid")+
			"a line without a timestamp before nothing: ERROR ignored with since\n")
	for _, tc := range []struct {
		since string
		want  int
	}{{"", 3}, {"24h", 1}, {"90m", 1}, {"3d", 2}, {"30d", 3}} {
		a := newLogScan(t, fmt.Sprintf("paths = [%q]\nsince = %q\n%s", reponse, tc.since, logScanPatterns))
		out := runLogScan(t, a, &logScanConn{root: root})
		if got := out.Findings["invalid_credentials"].Count; got != tc.want {
			t.Errorf("since %q: count %d, want %d", tc.since, got, tc.want)
		}
		if out.Findings["invalid_credentials"].Last != logScanNow.Add(-time.Hour).Format(time.RFC3339) {
			t.Errorf("since %q: last %s", tc.since, out.Findings["invalid_credentials"].Last)
		}
		if tc.since != "" && !strings.Contains(out.Summary, "in the last") {
			t.Errorf("since %q: summary %s", tc.since, out.Summary)
		}
	}

	// A timestamp in another layout and zone.
	writeLog(t, root, "/var/log/x.log", "10/06/2025 13:30:00 ERROR boom 17\n")
	a := newLogScan(t, `paths = ["/var/log/x.log"]
  since = "1h"
  timestamp_format = "02/01/2006 15:04:05"
  timezone = "Europe/Paris"`)
	out := runLogScan(t, a, &logScanConn{root: root})
	if len(out.Unknown) != 1 || out.Unknown[0].Last != "2025-06-10T13:30:00+02:00" {
		t.Errorf("layout and timezone: %+v", out.Unknown)
	}
}

func TestLogScanStackTraceInheritsTime(t *testing.T) {
	root := t.TempDir()
	trace := func(at time.Time) string {
		return managerLine(at, "javax.net.ssl.SSLHandshakeException: PKIX path building failed") +
			"\tat sun.security.ssl.Alert.createSSLException(Alert.java:131)\n" +
			"\tat com.sun.mail.smtp.SMTPTransport.startTLS(SMTPTransport.java:2155)\n" +
			"Caused by: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target\n" +
			"\tat sun.security.provider.certpath.SunCertPathBuilder.build(SunCertPathBuilder.java:141)\n" +
			"\t... 42 more\n"
	}
	writeLog(t, root, reponse, trace(logScanNow.Add(-72*time.Hour))+
		infoLine(logScanNow.Add(-2*time.Hour), "restarted")+
		trace(logScanNow.Add(-30*time.Minute)))
	a := newLogScan(t, fmt.Sprintf("paths = [%q]\n%s", reponse, logScanPatterns))
	out := runLogScan(t, a, &logScanConn{root: root})
	f := out.Findings["untrusted_chain"]
	// One event per stack trace, dated by its first line, and the
	// "Caused by ... Exception" lines are not unknown errors.
	if f.Count != 2 || f.Last != logScanNow.Add(-30*time.Minute).Format(time.RFC3339) || !strings.HasPrefix(f.Sample, "Caused by:") {
		t.Errorf("untrusted_chain: %+v", f)
	}
	if len(out.Unknown) != 0 {
		t.Errorf("unknown: %+v", out.Unknown)
	}
	// The continuation lines of the old trace inherit its old time, so
	// since drops the whole old event.
	a = newLogScan(t, fmt.Sprintf("paths = [%q]\nsince = \"24h\"\n%s", reponse, logScanPatterns))
	out = runLogScan(t, a, &logScanConn{root: root})
	if out.Findings["untrusted_chain"].Count != 1 {
		t.Errorf("since 24h: %+v", out.Findings)
	}
}

func TestLogScanUnknownGrouping(t *testing.T) {
	root := t.TempDir()
	var b strings.Builder
	for i := range 3 {
		at := logScanNow.Add(-time.Duration(10-i) * time.Hour)
		fmt.Fprintf(&b, "%s ERROR [response-action-%d] c.l.sw.response.action.EmailActionExecutor - Test action failed: javax.mail.MessagingException: Could not connect to SMTP host: 10.0.0.%d, port: 587; id 5f0c2a9e-1b2c-4d5e-8f90-0123456789ab\n",
			at.Format("2006-01-02 15:04:05,000"), i+1, i+7)
	}
	b.WriteString(managerLine(logScanNow.Add(-20*time.Hour), "javax.mail.MessagingException: Unknown SMTP host: (SMTP server not configured)"))
	b.WriteString(infoLine(logScanNow.Add(-time.Minute), "all good"))
	writeLog(t, root, reponse, b.String())
	a := newLogScan(t, fmt.Sprintf("paths = [%q]\n%s", reponse, logScanPatterns))
	out := runLogScan(t, a, &logScanConn{root: root})
	if len(out.Unknown) != 2 {
		t.Fatalf("unknown groups: %+v", out.Unknown)
	}
	u := out.Unknown[0] // the most recent first
	if u.Count != 3 || u.Last != logScanNow.Add(-8*time.Hour).Format(time.RFC3339) || !strings.Contains(u.Sample, "10.0.0.9") || u.Fix != "open a TAC case" {
		t.Errorf("grouped by the line without numbers: %+v", u)
	}
	if out.Unknown[1].Count != 1 || !strings.Contains(out.Unknown[1].Sample, "SMTP server not configured") {
		t.Errorf("second group: %+v", out.Unknown[1])
	}

	// At most 10 groups, with a warning; long samples are trimmed.
	b.Reset()
	for i := range 12 {
		fmt.Fprintf(&b, "%s ERROR failure kind %c %s\n", logScanNow.Add(time.Duration(i-20)*time.Minute).Format("2006-01-02 15:04:05,000"), 'a'+i, strings.Repeat("y", 400))
	}
	writeLog(t, root, reponse, b.String())
	out = runLogScan(t, a, &logScanConn{root: root})
	if len(out.Unknown) != 10 || len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0], "12 kinds of unknown error") {
		t.Errorf("cap: %d groups, warnings %q", len(out.Unknown), out.Warnings)
	}
	if !strings.Contains(out.Unknown[0].Sample, "failure kind l") || len([]rune(out.Unknown[0].Sample)) != 300 {
		t.Errorf("most recent first, trimmed to 300 runes: %d %q", len([]rune(out.Unknown[0].Sample)), out.Unknown[0].Sample[:60])
	}

	// unknown_regex = "" turns the search off.
	a = newLogScan(t, fmt.Sprintf("paths = [%q]\nunknown_regex = \"\"\n", reponse))
	if out = runLogScan(t, a, &logScanConn{root: root}); len(out.Unknown) != 0 {
		t.Errorf("unknown_regex off: %+v", out.Unknown)
	}
}

func TestLogScanBigGzipSkipped(t *testing.T) {
	root := t.TempDir()
	var b strings.Builder
	for i := 0; b.Len() < 200<<10; i++ {
		fmt.Fprintf(&b, "%s ERROR line %x %d\n", logScanNow.Format("2006-01-02 15:04:05,000"), i*7919, i*104729)
	}
	writeLog(t, root, reponse+".1.gz", gzipText(t, b.String()))
	writeLog(t, root, reponse, "")
	a := newLogScan(t, fmt.Sprintf("paths = [%q]\ntail_bytes = 1024\n", reponse))
	c := &logScanConn{root: root}
	out := runLogScan(t, a, c)
	if len(out.Files) != 1 || len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0], "skipped "+reponse+".1.gz") || c.read.Load() != 0 {
		t.Errorf("got files %q, warnings %q, read %d", out.Files, out.Warnings, c.read.Load())
	}
}

func TestLogScanConfigErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`paths = ["var/log/x.log"]`, "absolute"},
		{`paths = []`, "names no file"},
		{`paths = ["/x"]
		  since = "yesterday"`, "not a positive duration"},
		{`paths = ["/x"]
		  since = "-1h"`, "not a positive duration"},
		{`paths = ["/x"]
		  tail_bytes = 0`, "tail_bytes must be a whole number"},
		{`paths = ["/x"]
		  rotated = 1.5`, "rotated must be a whole number"},
		{`paths = ["/x"]
		  timestamp_format = "ts"`, "not a Go time layout"},
		{`paths = ["/x"]
		  timezone = "Mars/Olympus"`, "timezone"},
		{`paths = ["/x"]
		  unknown_regex = "("`, "unknown_regex"},
		{`paths = ["/x"]
		  patterns = [{ name = "a", regex = "(" }]`, "patterns[0] (a): regex"},
		{`paths = ["/x"]
		  patterns = [{ name = "a", regex = "x" }, { name = "a", regex = "y" }]`, "used twice"},
		{`paths = ["/x"]
		  patterns = [{ name = "", regex = "x" }]`, "name is empty"},
	} {
		_, err := decodeLogScan(tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.body, err, tc.want)
		}
	}
	// A directory given by name is an error; one matched by a glob is not.
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "logs", "d.log"), 0o755)
	a := newLogScan(t, `paths = ["/logs/d.log"]`)
	if _, err := a.Check(context.Background(), &Env{Conn: &logScanConn{root: root}, Warn: func(string) {}}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
	a = newLogScan(t, `paths = ["/logs/*.log"]`)
	if out := runLogScan(t, a, &logScanConn{root: root}); !out.Missing {
		t.Errorf("directory through a glob: %+v", out)
	}
}

func TestParseLogSince(t *testing.T) {
	for in, want := range map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "1h30m": 90 * time.Minute} {
		if got, err := ParseLogSince(in); err != nil || got != want {
			t.Errorf("%s: got %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0", "0s", "d", "1.5d", "-3h", "99999999999999d"} {
		if _, err := ParseLogSince(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
