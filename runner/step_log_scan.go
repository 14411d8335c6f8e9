package runner

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// Defaults of log_scan.
const (
	DefaultLogTailBytes       = 1 << 20
	DefaultLogRotated         = 3
	DefaultLogTimestampFormat = "2006-01-02 15:04:05,000" // the Manager's logs
	DefaultLogUnknownRegex    = `(?i)(ERROR|Exception)`

	maxLogTailBytes  = 256 << 20
	maxLogRotated    = 100
	maxLogSample     = 300 // runes
	maxUnknownGroups = 10
	// A .gz is read whole only when its compressed size is within
	// tail_bytes; its decompressed stream is read up to this many times
	// tail_bytes (a bound against decompression bombs).
	maxGzipExpansion = 64
)

var logPatternType = cty.ObjectWithOptionalAttrs(map[string]cty.Type{
	"name":   cty.String,
	"regex":  cty.String,
	"fix":    cty.String,
	"remedy": cty.String,
}, []string{"fix", "remedy"})

var logFindingType = cty.Object(map[string]cty.Type{
	"name":   cty.String,
	"count":  cty.Number,
	"last":   cty.String,
	"sample": cty.String,
	"fix":    cty.String,
	"remedy": cty.String,
})

var logUnknownType = cty.Object(map[string]cty.Type{
	"count":  cty.Number,
	"last":   cty.String,
	"sample": cty.String,
	"fix":    cty.String,
})

// LogScanKind is the log_scan step kind: it reads the tail of remote log
// files over SFTP and counts the lines that match known error patterns,
// each with its fix. It is read-only: its outputs are known during a plan.
func LogScanKind() *Kind {
	return &Kind{
		Name:    "log_scan",
		Summary: "Scan the tail of remote log files (and their rotations) for known error patterns and unknown errors, with each pattern's fix. Read-only.",
		Spec: hcldec.ObjectSpec{
			"paths":            &hcldec.AttrSpec{Name: "paths", Type: cty.List(cty.String), Required: true},
			"rotated":          &hcldec.AttrSpec{Name: "rotated", Type: cty.Number},
			"tail_bytes":       &hcldec.AttrSpec{Name: "tail_bytes", Type: cty.Number},
			"since":            &hcldec.AttrSpec{Name: "since", Type: cty.String},
			"timestamp_format": &hcldec.AttrSpec{Name: "timestamp_format", Type: cty.String},
			"timezone":         &hcldec.AttrSpec{Name: "timezone", Type: cty.String},
			"patterns":         &hcldec.AttrSpec{Name: "patterns", Type: cty.List(logPatternType)},
			"unknown_regex":    &hcldec.AttrSpec{Name: "unknown_regex", Type: cty.String},
			"unknown_fix":      &hcldec.AttrSpec{Name: "unknown_fix", Type: cty.String},
		},
		Outputs: cty.Object(map[string]cty.Type{
			"files":    cty.List(cty.String),
			"findings": cty.List(logFindingType),
			"unknown":  cty.List(logUnknownType),
			"missing":  cty.Bool,
		}),
		New: newLogScanAction,
	}
}

type logPattern struct {
	name, fix, remedy string
	re                *regexp.Regexp
}

type logScanAction struct {
	paths      []string
	rotated    int
	tail       int64
	since      time.Duration
	layout     string
	loc        *time.Location
	patterns   []logPattern
	unknownRe  *regexp.Regexp // nil: unknown errors are not looked for
	unknownFix string
	now        func() time.Time
}

func newLogScanAction(cfg cty.Value) (Action, error) {
	cfg, _ = cfg.UnmarkDeep()
	a := &logScanAction{
		rotated:    DefaultLogRotated,
		tail:       DefaultLogTailBytes,
		layout:     DefaultLogTimestampFormat,
		loc:        time.UTC,
		unknownFix: getString(cfg, "unknown_fix"),
		now:        time.Now,
	}
	for it := cfg.GetAttr("paths").ElementIterator(); it.Next(); {
		_, v := it.Element()
		if v.IsNull() {
			return nil, fmt.Errorf("paths: an element is null")
		}
		p := v.AsString()
		if !path.IsAbs(p) {
			return nil, fmt.Errorf("paths: %q must be an absolute remote path or glob", p)
		}
		a.paths = append(a.paths, p)
	}
	if len(a.paths) == 0 {
		return nil, fmt.Errorf("paths names no file")
	}
	var err error
	if a.rotated, err = wholeNumber(cfg, "rotated", DefaultLogRotated, 0, maxLogRotated); err != nil {
		return nil, err
	}
	tail, err := wholeNumber(cfg, "tail_bytes", DefaultLogTailBytes, 1, maxLogTailBytes)
	if err != nil {
		return nil, err
	}
	a.tail = int64(tail)
	if s := getString(cfg, "since"); s != "" {
		if a.since, err = ParseLogSince(s); err != nil {
			return nil, fmt.Errorf("since: %w", err)
		}
	}
	if f := getString(cfg, "timestamp_format"); f != "" {
		// A layout without any time element formats as itself.
		if time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).Format(f) == f {
			return nil, fmt.Errorf("timestamp_format %q is not a Go time layout (such as %q)", f, DefaultLogTimestampFormat)
		}
		a.layout = f
	}
	if tz := getString(cfg, "timezone"); tz != "" {
		if a.loc, err = time.LoadLocation(tz); err != nil {
			return nil, fmt.Errorf("timezone %q: %v (use \"UTC\", \"Local\" or an IANA name such as \"Europe/Paris\")", tz, err)
		}
	}
	if pv := cfg.GetAttr("patterns"); !pv.IsNull() {
		seen := map[string]bool{}
		for it := pv.ElementIterator(); it.Next(); {
			i, v := it.Element()
			n, _ := i.AsBigFloat().Int64()
			p := logPattern{name: getString(v, "name"), fix: getString(v, "fix"), remedy: getString(v, "remedy")}
			if p.name == "" {
				return nil, fmt.Errorf("patterns[%d]: name is empty", n)
			}
			if seen[p.name] {
				return nil, fmt.Errorf("patterns[%d]: the name %q is used twice", n, p.name)
			}
			seen[p.name] = true
			expr := getString(v, "regex")
			if expr == "" {
				return nil, fmt.Errorf("patterns[%d] (%s): regex is empty", n, p.name)
			}
			if p.re, err = regexp.Compile(expr); err != nil {
				return nil, fmt.Errorf("patterns[%d] (%s): regex: %v", n, p.name, err)
			}
			a.patterns = append(a.patterns, p)
		}
	}
	unknown := DefaultLogUnknownRegex
	if v := cfg.GetAttr("unknown_regex"); !v.IsNull() {
		unknown = v.AsString() // "" turns the unknown-error search off
	}
	if unknown != "" {
		if a.unknownRe, err = regexp.Compile(unknown); err != nil {
			return nil, fmt.Errorf("unknown_regex: %v", err)
		}
	}
	return a, nil
}

// wholeNumber reads an optional whole-number attribute within [min, max].
func wholeNumber(cfg cty.Value, name string, def, min, max int) (int, error) {
	v := cfg.GetAttr(name)
	if v.IsNull() {
		return def, nil
	}
	n, acc := v.AsBigFloat().Int64()
	if acc != big.Exact || n < int64(min) || n > int64(max) {
		return 0, fmt.Errorf("%s must be a whole number from %d to %d", name, min, max)
	}
	return int(n), nil
}

var daysRe = regexp.MustCompile(`^(\d+)d$`)

// ParseLogSince parses a log_scan "since": a Go duration ("24h", "90m")
// or a number of days ("7d").
func ParseLogSince(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if m := daysRe.FindStringSubmatch(s); m != nil {
		d, err := time.ParseDuration(m[1] + "h")
		if err != nil || d > time.Duration(1<<63-1)/24 {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		return 24 * d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as \"24h\", \"90m\" or \"7d\"", s)
	}
	return d, nil
}

// logFile is one file to scan.
type logFile struct {
	path string
	size int64
	gz   bool
}

// files lists the files to scan, in the order of paths, each path's
// rotations oldest first (<path>.N … <path>.1, with or without .gz), then
// the path itself.
func (a *logScanAction) files(ctx context.Context, env *Env) ([]logFile, error) {
	var out []logFile
	seen := map[string]bool{}
	add := func(p string, explicit bool) error {
		if seen[p] {
			return nil
		}
		seen[p] = true
		st, err := env.Conn.Stat(ctx, p)
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if !st.Exists {
			return nil
		}
		if st.IsDir {
			if explicit {
				return fmt.Errorf("%s is a directory: give a file or a glob such as %s/*.log", p, p)
			}
			return nil
		}
		out = append(out, logFile{path: p, size: st.Size, gz: strings.HasSuffix(p, ".gz")})
		return nil
	}
	for _, p := range a.paths {
		var bases []string
		explicit := !strings.ContainsAny(p, "*?[")
		if explicit {
			bases = []string{path.Clean(p)}
		} else {
			m, err := env.Conn.Glob(ctx, p)
			if err != nil {
				return nil, fmt.Errorf("glob %s: %w", p, err)
			}
			bases = m
		}
		for _, b := range bases {
			if !strings.HasSuffix(b, ".gz") {
				for k := a.rotated; k >= 1; k-- {
					for _, r := range []string{fmt.Sprintf("%s.%d", b, k), fmt.Sprintf("%s.%d.gz", b, k)} {
						if err := add(r, false); err != nil {
							return nil, err
						}
					}
				}
			}
			if err := add(b, explicit); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// readTail reads at most tail bytes from the end of f (for a .gz, the last
// tail bytes of its decompressed content) and returns them starting at a
// line boundary, with the number of bytes read from the host.
func (a *logScanAction) readTail(ctx context.Context, env *Env, f logFile) ([]byte, int64, error) {
	rc, err := env.Conn.Open(ctx, f.path)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", f.path, err)
	}
	defer rc.Close()
	if f.gz {
		cr := &countingReader{r: io.LimitReader(rc, f.size)}
		zr, err := gzip.NewReader(cr)
		if err != nil {
			return nil, cr.n, fmt.Errorf("read %s: %w", f.path, err)
		}
		limit := a.tail * maxGzipExpansion
		data, total, err := lastBytes(io.LimitReader(zr, limit+1), a.tail+1)
		if err != nil {
			return nil, cr.n, fmt.Errorf("decompress %s: %w", f.path, err)
		}
		if total > limit {
			env.Warn(fmt.Sprintf("%s decompresses to more than %d bytes: only its first %d bytes were scanned", f.path, limit, limit))
		}
		return dropPartialLine(data, total > int64(len(data))), cr.n, nil
	}
	// Read from one byte before the tail, to know whether the tail starts
	// at a line boundary.
	off := max(f.size-a.tail-1, 0)
	want := f.size - off
	var data []byte
	var read int64
	switch r := rc.(type) {
	case io.Seeker:
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			return nil, 0, fmt.Errorf("seek %s: %w", f.path, err)
		}
		data, err = readUpTo(rc, want)
		read = int64(len(data))
	case io.ReaderAt:
		data, err = readUpTo(io.NewSectionReader(r, off, want), want)
		read = int64(len(data))
	default:
		// No random access: stream it all, keeping only the last bytes.
		data, read, err = lastBytes(io.LimitReader(rc, f.size), want)
		off = read - int64(len(data))
	}
	if err != nil {
		return nil, read, fmt.Errorf("read %s: %w", f.path, err)
	}
	if off > 0 && len(data) > 0 {
		data = dropPartialLine(data[1:], data[0] != '\n')
	}
	return data, read, nil
}

// readUpTo reads n bytes, or fewer when the file shrank meanwhile.
func readUpTo(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, n)
	got, err := io.ReadFull(r, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	return buf[:got], err
}

// lastBytes reads r to its end and returns its last n bytes and how many
// it read in all; memory stays within about 2n.
func lastBytes(r io.Reader, n int64) ([]byte, int64, error) {
	buf := make([]byte, 0, 2*n)
	chunk := make([]byte, 32<<10)
	var total int64
	for {
		k, err := r.Read(chunk)
		total += int64(k)
		buf = append(buf, chunk[:k]...)
		if int64(len(buf)) > 2*n {
			buf = append(buf[:0], buf[int64(len(buf))-n:]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, total, err
		}
	}
	if int64(len(buf)) > n {
		buf = buf[int64(len(buf))-n:]
	}
	return buf, total, nil
}

// dropPartialLine drops the first line when it was cut (truncated is
// true), unless it is the only one.
func dropPartialLine(b []byte, truncated bool) []byte {
	if !truncated {
		return b
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// logRecord is a timestamped line with the lines without a timestamp that
// follow it (a stack trace); they share its time.
type logRecord struct {
	t     time.Time // zero: unknown
	lines []string
}

// records splits a file's text into records. Lines before the first
// timestamp are records of their own, without a time.
func (a *logScanAction) records(data []byte) []logRecord {
	var out []logRecord
	text := strings.ToValidUTF8(string(data), "\uFFFD")
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if t, _, ok := a.lineTime(line); ok {
			out = append(out, logRecord{t: t, lines: []string{line}})
			continue
		}
		if n := len(out); n > 0 && !out[n-1].t.IsZero() {
			out[n-1].lines = append(out[n-1].lines, line)
			continue
		}
		out = append(out, logRecord{lines: []string{line}})
	}
	return out
}

// lineTime parses the timestamp at the start of line: the layout's length
// of text, or as many space-separated fields as the layout has (for
// layouts of variable width, such as "Jan 2 15:04:05"). rest is the line
// after the timestamp.
func (a *logScanAction) lineTime(line string) (t time.Time, rest string, ok bool) {
	err := errors.New("no timestamp")
	if n := len(a.layout); len(line) >= n {
		t, err = time.ParseInLocation(a.layout, line[:n], a.loc)
		rest = line[n:]
	}
	if err != nil {
		lf := strings.Fields(a.layout)
		f := strings.Fields(line)
		if len(f) < len(lf) {
			return time.Time{}, line, false
		}
		if t, err = time.ParseInLocation(strings.Join(lf, " "), strings.Join(f[:len(lf)], " "), a.loc); err != nil {
			return time.Time{}, line, false
		}
		rest = strings.Join(f[len(lf):], " ")
	}
	if t.Year() == 0 {
		// A layout without the year (syslog's): this year, or last year
		// for a date that would be in the future.
		now := a.now().In(a.loc)
		t = t.AddDate(now.Year(), 0, 0)
		if t.After(now.Add(24 * time.Hour)) {
			t = t.AddDate(-1, 0, 0)
		}
	}
	return t, rest, true
}

type logHit struct {
	count  int
	last   time.Time
	sample string
	order  int // first seen, for a stable order
}

func (h *logHit) add(t time.Time, line string) {
	h.count++
	if h.sample == "" || !t.Before(h.last) {
		h.last, h.sample = t, line
	}
}

var (
	normUUID   = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	normNumber = regexp.MustCompile(`\b(0x[0-9a-fA-F]+|[0-9a-fA-F]*[0-9][0-9a-fA-F]*)\b`)
	normSpace  = regexp.MustCompile(`\s+`)
)

// normalise is the grouping key of an unknown error: the line without its
// timestamp, with numbers, hex and UUIDs replaced by "#".
func (a *logScanAction) normalise(line string) string {
	_, line, _ = a.lineTime(line)
	line = normUUID.ReplaceAllString(line, "#")
	line = normNumber.ReplaceAllString(line, "#")
	return strings.TrimSpace(normSpace.ReplaceAllString(line, " "))
}

// logScanResult is what a scan found.
type logScanResult struct {
	files    []string
	bytes    int64
	findings []*logHit // per pattern, in pattern order
	unknown  map[string]*logHit
}

// scan counts, per record within since, each pattern once (the last line
// of the record that matches it), or else the record's first line that
// matches unknown_regex, grouped.
func (a *logScanAction) scan(res *logScanResult, data []byte) {
	var cutoff time.Time
	if a.since > 0 {
		cutoff = a.now().Add(-a.since)
	}
	for _, rec := range a.records(data) {
		if a.since > 0 && (rec.t.IsZero() || rec.t.Before(cutoff)) {
			continue
		}
		known := false
		for i, p := range a.patterns {
			for j := len(rec.lines) - 1; j >= 0; j-- {
				if p.re.MatchString(rec.lines[j]) {
					res.findings[i].add(rec.t, rec.lines[j])
					known = true
					break
				}
			}
		}
		if known || a.unknownRe == nil {
			continue
		}
		for _, line := range rec.lines {
			if a.unknownRe.MatchString(line) {
				key := a.normalise(line)
				h := res.unknown[key]
				if h == nil {
					h = &logHit{order: len(res.unknown)}
					res.unknown[key] = h
				}
				h.add(rec.t, line)
				break
			}
		}
	}
}

func (a *logScanAction) Check(ctx context.Context, env *Env) (*Change, error) {
	files, err := a.files(ctx, env)
	if err != nil {
		return nil, err
	}
	res := &logScanResult{unknown: map[string]*logHit{}}
	for range a.patterns {
		res.findings = append(res.findings, &logHit{})
	}
	for _, f := range files {
		if f.gz && f.size > a.tail {
			env.Warn(fmt.Sprintf("skipped %s: compressed, and larger (%d bytes) than tail_bytes (%d)", f.path, f.size, a.tail))
			continue
		}
		data, n, err := a.readTail(ctx, env, f)
		res.bytes += n
		if err != nil {
			return nil, err
		}
		res.files = append(res.files, f.path)
		a.scan(res, data)
	}
	ch := &Change{Action: ActionNone}
	ch.Outputs, ch.Summary, ch.Details = a.outputs(res, env)
	return ch, nil
}

func (a *logScanAction) Apply(_ context.Context, _ *Env, ch *Change) (cty.Value, error) {
	return ch.Outputs, nil // never called: Check changes nothing
}

func (a *logScanAction) outputs(res *logScanResult, env *Env) (cty.Value, string, []string) {
	var details []string
	files := cty.ListValEmpty(cty.String)
	if len(res.files) > 0 {
		var l []cty.Value
		for _, f := range res.files {
			l = append(l, cty.StringVal(f))
		}
		files = cty.ListVal(l)
	}

	var found []cty.Value
	var names []string
	for i, p := range a.patterns {
		h := res.findings[i]
		if h.count == 0 {
			continue
		}
		found = append(found, cty.ObjectVal(map[string]cty.Value{
			"name":   cty.StringVal(p.name),
			"count":  cty.NumberIntVal(int64(h.count)),
			"last":   cty.StringVal(logTime(h.last)),
			"sample": cty.StringVal(trimSample(h.sample)),
			"fix":    cty.StringVal(p.fix),
			"remedy": cty.StringVal(p.remedy),
		}))
		names = append(names, fmt.Sprintf("%s ×%d", p.name, h.count))
		d := fmt.Sprintf("! %s ×%d, last %s", p.name, h.count, orDash(logTime(h.last)))
		if p.fix != "" {
			d += ": " + p.fix
		}
		if p.remedy != "" {
			d += " (" + p.remedy + ")"
		}
		details = append(details, d)
	}
	findings := cty.ListValEmpty(logFindingType)
	if len(found) > 0 {
		findings = cty.ListVal(found)
	}

	groups := make([]*logHit, 0, len(res.unknown))
	var unknownCount int
	for _, h := range res.unknown {
		groups = append(groups, h)
		unknownCount += h.count
	}
	// The most recent first, then the most frequent.
	sort.Slice(groups, func(i, j int) bool {
		gi, gj := groups[i], groups[j]
		if !gi.last.Equal(gj.last) {
			return gi.last.After(gj.last)
		}
		if gi.count != gj.count {
			return gi.count > gj.count
		}
		return gi.order < gj.order
	})
	if len(groups) > maxUnknownGroups {
		env.Warn(fmt.Sprintf("%d kinds of unknown error: only the %d most recent are listed", len(groups), maxUnknownGroups))
		groups = groups[:maxUnknownGroups]
	}
	unknown := cty.ListValEmpty(logUnknownType)
	if len(groups) > 0 {
		var l []cty.Value
		for _, h := range groups {
			l = append(l, cty.ObjectVal(map[string]cty.Value{
				"count":  cty.NumberIntVal(int64(h.count)),
				"last":   cty.StringVal(logTime(h.last)),
				"sample": cty.StringVal(trimSample(h.sample)),
				"fix":    cty.StringVal(a.unknownFix),
			}))
			details = append(details, fmt.Sprintf("? unknown ×%d, last %s: %s", h.count, orDash(logTime(h.last)), trimSample(h.sample)))
		}
		unknown = cty.ListVal(l)
	}

	out := cty.ObjectVal(map[string]cty.Value{
		"files":    files,
		"findings": findings,
		"unknown":  unknown,
		"missing":  cty.BoolVal(len(res.files) == 0),
	})
	var summary string
	window := ""
	if a.since > 0 {
		window = " in the last " + a.since.String()
	}
	switch {
	case len(res.files) == 0:
		summary = "no log file found: " + strings.Join(a.paths, ", ")
	case len(found) == 0 && unknownCount == 0:
		summary = fmt.Sprintf("%d file(s), %d bytes read: no error%s", len(res.files), res.bytes, window)
	default:
		var parts []string
		if len(names) > 0 {
			parts = append(parts, strings.Join(names, ", "))
		}
		if unknownCount > 0 {
			parts = append(parts, fmt.Sprintf("%d unknown error(s)", unknownCount))
		}
		summary = fmt.Sprintf("%d file(s), %d bytes read%s: %s", len(res.files), res.bytes, window, strings.Join(parts, "; "))
	}
	return out, summary, details
}

func logTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func trimSample(s string) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= maxLogSample {
		return s
	}
	r := []rune(s)
	return string(r[:maxLogSample-1]) + "…"
}
