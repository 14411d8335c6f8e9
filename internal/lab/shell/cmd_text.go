package shell

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

func init() {
	for name, fn := range map[string]command{
		"head": cmdHead, "tail": cmdTail, "wc": cmdWc, "grep": cmdGrep, "egrep": cmdEgrep,
		"sed": cmdSed, "sort": cmdSort, "uniq": cmdUniq, "cut": cmdCut, "tr": cmdTr,
		"sha256sum": hashCmd(sha256.New), "sha1sum": hashCmd(sha1.New),
		"sha512sum": hashCmd(sha512.New), "md5sum": hashCmd(md5.New),
		"base64": cmdBase64, "xargs": cmdXargs, "seq": cmdSeq,
	} {
		commands[name] = fn
	}
}

// eachInput calls fn for every file operand ("-" or none: stdin),
// reporting unreadable files; it returns the exit status.
func (c *cmdCtx) eachInput(files []string, fn func(name string, r io.Reader) error) int {
	if len(files) == 0 {
		files = []string{"-"}
	}
	status := 0
	for _, f := range files {
		r, err := c.open(f, true)
		if err != nil {
			c.fileErr("", f, err)
			status = 1
			continue
		}
		err = fn(f, r)
		r.Close()
		if errors.Is(err, errSilent) {
			status = 1
		} else if err != nil {
			c.fileErr("", f, err)
			status = 1
		}
	}
	return status
}

// readLines splits data into lines without their newlines.
func readLines(r io.Reader) ([]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, nil
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.Split(s, "\n"), nil
}

// obsoleteCount turns head/tail's "-5" into "-n 5".
func obsoleteCount(args []string) []string {
	if len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		if _, err := strconv.Atoi(args[0][1:]); err == nil {
			return append([]string{"-n", args[0][1:]}, args[1:]...)
		}
	}
	return args
}

func cmdHead(c *cmdCtx, args []string) int {
	o, files, ok := c.parseFlags(obsoleteCount(args), "n:c:qv", map[string]byte{"lines": 'n', "bytes": 'c', "quiet": 'q', "verbose": 'v'})
	if !ok {
		return 2
	}
	lines, bytesMode := o.last('n', "10"), o.has('c')
	spec := lines
	if bytesMode {
		spec = o.last('c', "")
	}
	n, err := strconv.Atoi(strings.TrimPrefix(spec, "-"))
	if err != nil {
		what := "lines"
		if bytesMode {
			what = "bytes"
		}
		c.errorf("invalid number of %s: '%s'", what, spec)
		return 1
	}
	allBut := strings.HasPrefix(spec, "-")
	headers := len(files) > 1 && !o.has('q') || o.has('v')
	first := true
	return c.eachInput(files, func(name string, r io.Reader) error {
		if headers {
			if !first {
				fmt.Fprintln(c.stdout)
			}
			fmt.Fprintf(c.stdout, "==> %s <==\n", displayName(name))
		}
		first = false
		if bytesMode {
			if allBut {
				b, err := io.ReadAll(r)
				if err != nil {
					return err
				}
				c.stdout.Write(b[:max(0, len(b)-n)])
				return nil
			}
			_, err := io.CopyN(c.stdout, r, int64(n))
			if err == io.EOF {
				err = nil
			}
			return err
		}
		br := bufio.NewReader(r)
		if allBut {
			b, err := io.ReadAll(br)
			if err != nil {
				return err
			}
			ls := splitKeep(b)
			for _, l := range ls[:max(0, len(ls)-n)] {
				c.stdout.Write(l)
			}
			return nil
		}
		for i := 0; i < n; i++ {
			line, err := br.ReadBytes('\n')
			c.stdout.Write(line)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func displayName(name string) string {
	if name == "-" {
		return "standard input"
	}
	return name
}

// splitKeep splits b into lines keeping their newlines.
func splitKeep(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i+1])
		b = b[i+1:]
	}
	return out
}

func cmdTail(c *cmdCtx, args []string) int {
	o, files, ok := c.parseFlags(obsoleteCount(args), "n:c:qvf", map[string]byte{"lines": 'n', "bytes": 'c', "quiet": 'q', "verbose": 'v', "follow": 'f'})
	if !ok {
		return 2
	}
	if o.has('f') {
		c.errorf("option -f is not supported on this simulated host")
		return 1
	}
	bytesMode := o.has('c')
	spec := o.last('n', "10")
	if bytesMode {
		spec = o.last('c', "")
	}
	fromStart := strings.HasPrefix(spec, "+")
	n, err := strconv.Atoi(strings.TrimLeft(spec, "+-"))
	if err != nil {
		what := "lines"
		if bytesMode {
			what = "bytes"
		}
		c.errorf("invalid number of %s: '%s'", what, spec)
		return 1
	}
	headers := len(files) > 1 && !o.has('q') || o.has('v')
	first := true
	return c.eachInput(files, func(name string, r io.Reader) error {
		if headers {
			if !first {
				fmt.Fprintln(c.stdout)
			}
			fmt.Fprintf(c.stdout, "==> %s <==\n", displayName(name))
		}
		first = false
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if bytesMode {
			switch {
			case fromStart:
				c.stdout.Write(b[min(len(b), max(0, n-1)):])
			default:
				c.stdout.Write(b[max(0, len(b)-n):])
			}
			return nil
		}
		ls := splitKeep(b)
		if fromStart {
			ls = ls[min(len(ls), max(0, n-1)):]
		} else {
			ls = ls[max(0, len(ls)-n):]
		}
		for _, l := range ls {
			c.stdout.Write(l)
		}
		return nil
	})
}

func cmdWc(c *cmdCtx, args []string) int {
	o, files, ok := c.parseFlags(args, "lcwm", map[string]byte{"lines": 'l', "bytes": 'c', "words": 'w', "chars": 'm'})
	if !ok {
		return 2
	}
	which := []byte{}
	for _, b := range []byte("lwmc") {
		if o.has(b) {
			which = append(which, b)
		}
	}
	if len(which) == 0 {
		which = []byte("lwc")
	}
	type counts map[byte]int
	var rows []counts
	var names []string
	total := counts{}
	status := c.eachInput(files, func(name string, r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		cnt := counts{
			'l': bytes.Count(b, []byte{'\n'}),
			'w': len(bytes.Fields(b)),
			'm': len([]rune(string(b))),
			'c': len(b),
		}
		for k, v := range cnt {
			total[k] += v
		}
		rows = append(rows, cnt)
		names = append(names, name)
		return nil
	})
	if len(files) > 1 {
		rows = append(rows, total)
		names = append(names, "total")
	}
	// Width: GNU uses the width of the largest total when reading files,
	// and no padding for a single count from stdin.
	width := len(strconv.Itoa(max(total['c'], 1)))
	if len(files) == 0 && len(which) == 1 {
		width = 1
	} else if len(files) == 0 {
		width = max(width, 7)
	}
	for i, row := range rows {
		var parts []string
		for _, k := range which {
			parts = append(parts, fmt.Sprintf("%*d", width, row[k]))
		}
		line := strings.Join(parts, " ")
		if len(files) > 0 {
			line += " " + names[i]
		}
		fmt.Fprintln(c.stdout, line)
	}
	return status
}

func cmdEgrep(c *cmdCtx, args []string) int {
	return cmdGrep(c, append([]string{"-E"}, args...))
}

// breToERE translates a POSIX basic regular expression into Go syntax:
// \( \) \{ \} \| \+ \? are the operators, bare ( ) { } | + ? are literals.
func breToERE(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s):
			i++
			switch n := s[i]; n {
			case '(', ')', '{', '}', '|', '+', '?':
				b.WriteByte(n)
			default:
				b.WriteByte('\\')
				b.WriteByte(n)
			}
		case ch == '[':
			// Copy a bracket expression verbatim.
			j := i + 1
			if j < len(s) && s[j] == '^' {
				j++
			}
			if j < len(s) && s[j] == ']' {
				j++
			}
			for j < len(s) && s[j] != ']' {
				j++
			}
			if j >= len(s) {
				b.WriteString(regexp.QuoteMeta(s[i:]))
				return b.String()
			}
			b.WriteString(s[i : j+1])
			i = j
		case strings.IndexByte("(){}|+?", ch) >= 0:
			b.WriteByte('\\')
			b.WriteByte(ch)
		case ch == '*' && i == 0:
			b.WriteString(`\*`)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// compilePatterns builds one regexp from grep's patterns.
func compilePatterns(pats []string, extended, fixed, fold, word, line bool) (*regexp.Regexp, error) {
	var alts []string
	for _, p := range pats {
		switch {
		case fixed:
			p = regexp.QuoteMeta(p)
		case !extended:
			p = breToERE(p)
		}
		alts = append(alts, "(?:"+p+")")
	}
	re := strings.Join(alts, "|")
	if word {
		re = `\b(?:` + re + `)\b`
	}
	if line {
		re = `^(?:` + re + `)$`
	}
	if fold {
		re = "(?i)" + re
	}
	return regexp.Compile(re)
}

func cmdGrep(c *cmdCtx, args []string) int {
	o, rest, ok := c.parseFlags(args, "EiyvcqsnFe:f:olLhHwxrRGA:B:C:", map[string]byte{
		"extended-regexp": 'E', "ignore-case": 'i', "invert-match": 'v', "count": 'c',
		"quiet": 'q', "silent": 'q', "no-messages": 's', "line-number": 'n', "fixed-strings": 'F',
		"regexp": 'e', "file": 'f', "only-matching": 'o', "files-with-matches": 'l',
		"files-without-match": 'L', "no-filename": 'h', "with-filename": 'H',
		"word-regexp": 'w', "line-regexp": 'x', "recursive": 'r', "basic-regexp": 'G',
	})
	if !ok {
		return 2
	}
	if o.has('A') || o.has('B') || o.has('C') || o.has('r') || o.has('R') {
		c.errorf("context and recursive options are not supported on this simulated host")
		return 2
	}
	pats := o['e']
	for _, f := range o['f'] {
		r, err := c.open(f, true)
		if err != nil {
			c.fileErr("", f, err)
			return 2
		}
		ls, _ := readLines(r)
		r.Close()
		pats = append(pats, ls...)
	}
	if !o.has('e') && !o.has('f') {
		if len(rest) == 0 {
			fmt.Fprintf(c.stderr, "Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n")
			return 2
		}
		pats, rest = strings.Split(rest[0], "\n"), rest[1:]
	}
	re, err := compilePatterns(pats, o.has('E'), o.has('F'), o.has('i') || o.has('y'), o.has('w'), o.has('x'))
	if err != nil {
		c.errorf("%v", err)
		return 2
	}
	withName := (len(rest) > 1 || o.has('H')) && !o.has('h')
	matchedAny := false
	status := 0
	files := rest
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, f := range files {
		r, err := c.open(f, true)
		if err != nil {
			if !o.has('s') {
				c.fileErr("", f, err)
			}
			status = 2
			continue
		}
		if fi, err := c.j.stat(c.abs(f)); f != "-" && err == nil && fi.IsDir() {
			r.Close()
			c.errorf("%s: Is a directory", f)
			status = 2
			continue
		}
		name := f
		if f == "-" {
			name = "(standard input)"
		}
		br := bufio.NewReader(r)
		count := 0
		for lineNo := 1; ; lineNo++ {
			line, rerr := br.ReadString('\n')
			if line == "" && rerr != nil {
				break
			}
			text := strings.TrimSuffix(line, "\n")
			hit := re.MatchString(text) != o.has('v')
			if hit {
				count++
				matchedAny = true
				if o.has('q') {
					r.Close()
					return 0
				}
				if !o.has('c') && !o.has('l') && !o.has('L') {
					prefix := ""
					if withName {
						prefix = name + ":"
					}
					if o.has('n') {
						prefix += strconv.Itoa(lineNo) + ":"
					}
					if o.has('o') && !o.has('v') {
						for _, m := range re.FindAllString(text, -1) {
							if m != "" {
								fmt.Fprintln(c.stdout, prefix+m)
							}
						}
					} else if !o.has('o') {
						fmt.Fprintln(c.stdout, prefix+text)
					}
				}
				if o.has('l') {
					break
				}
			}
			if rerr != nil {
				break
			}
		}
		r.Close()
		switch {
		case o.has('l'):
			if count > 0 {
				fmt.Fprintln(c.stdout, name)
			}
		case o.has('L'):
			if count == 0 {
				fmt.Fprintln(c.stdout, name)
			}
		case o.has('c'):
			if withName {
				fmt.Fprintf(c.stdout, "%s:%d\n", name, count)
			} else {
				fmt.Fprintln(c.stdout, count)
			}
		}
	}
	if status == 2 && !(o.has('q') && matchedAny) {
		return 2
	}
	if matchedAny {
		return 0
	}
	return 1
}

// sedScript is a parsed sed program: only s///, d and p with an optional
// /regexp/ or line-number address.
type sedCmd struct {
	addrRe   *regexp.Regexp
	addrLine int
	op       byte // 's', 'd', 'p'
	re       *regexp.Regexp
	repl     string
	global   bool
	nth      int
	print    bool
}

func parseSed(script string, extended bool) ([]sedCmd, error) {
	var cmds []sedCmd
	conv := func(p string) string {
		if extended {
			return p
		}
		return breToERE(p)
	}
	for _, part := range splitSedScript(script) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var sc sedCmd
		// Address.
		switch {
		case part[0] == '/':
			end := findDelim(part, 1, '/')
			if end < 0 {
				return nil, fmt.Errorf("unterminated address regex")
			}
			re, err := regexp.Compile(conv(part[1:end]))
			if err != nil {
				return nil, err
			}
			sc.addrRe, part = re, strings.TrimSpace(part[end+1:])
		case part[0] >= '0' && part[0] <= '9':
			i := 0
			for i < len(part) && part[i] >= '0' && part[i] <= '9' {
				i++
			}
			sc.addrLine, _ = strconv.Atoi(part[:i])
			part = strings.TrimSpace(part[i:])
		case part[0] == '$':
			sc.addrLine, part = -1, strings.TrimSpace(part[1:])
		}
		if part == "" {
			return nil, fmt.Errorf("missing command")
		}
		sc.op = part[0]
		switch sc.op {
		case 'd', 'p':
			if strings.TrimSpace(part[1:]) != "" {
				return nil, fmt.Errorf("extra characters after command")
			}
		case 's':
			if len(part) < 2 {
				return nil, fmt.Errorf("unterminated `s' command")
			}
			d := part[1]
			e1 := findDelim(part, 2, d)
			if e1 < 0 {
				return nil, fmt.Errorf("unterminated `s' command")
			}
			e2 := findDelim(part, e1+1, d)
			if e2 < 0 {
				return nil, fmt.Errorf("unterminated `s' command")
			}
			pat := strings.ReplaceAll(part[2:e1], `\`+string(d), string(d))
			re, err := regexp.Compile(conv(pat))
			if err != nil {
				return nil, err
			}
			sc.re = re
			sc.repl = sedRepl(strings.ReplaceAll(part[e1+1:e2], `\`+string(d), string(d)))
			for _, f := range part[e2+1:] {
				switch {
				case f == 'g':
					sc.global = true
				case f == 'p':
					sc.print = true
				case f == 'I' || f == 'i':
					sc.re = regexp.MustCompile("(?i)" + sc.re.String())
				case f >= '1' && f <= '9':
					sc.nth = int(f - '0')
				default:
					return nil, fmt.Errorf("unknown option to `s'")
				}
			}
		default:
			return nil, fmt.Errorf("unknown command: `%c'", sc.op)
		}
		cmds = append(cmds, sc)
	}
	return cmds, nil
}

// splitSedScript splits on ';' and newlines outside s/// delimiters.
func splitSedScript(s string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 's':
			if i+1 < len(s) && (i == start || strings.TrimSpace(s[start:i]) == "" || isAddrEnd(s[start:i])) {
				d := s[i+1]
				e1 := findDelim(s, i+2, d)
				if e1 > 0 {
					if e2 := findDelim(s, e1+1, d); e2 > 0 {
						i = e2
					}
				}
			}
		case '/':
			if e := findDelim(s, i+1, '/'); e > 0 {
				i = e
			}
		case ';', '\n':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func isAddrEnd(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && (strings.HasSuffix(s, "/") || s[len(s)-1] >= '0' && s[len(s)-1] <= '9' || s == "$")
}

// findDelim finds the next unescaped d in s from i.
func findDelim(s string, i int, d byte) int {
	for ; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == d {
			return i
		}
	}
	return -1
}

// sedRepl converts sed's replacement (& and \1) into Go's template.
func sedRepl(r string) string {
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		switch ch := r[i]; {
		case ch == '\\' && i+1 < len(r):
			i++
			switch n := r[i]; {
			case n >= '0' && n <= '9':
				b.WriteString("${" + string(n) + "}")
			case n == 'n':
				b.WriteByte('\n')
			case n == 't':
				b.WriteByte('\t')
			case n == '$':
				b.WriteString("$$")
			default:
				b.WriteByte(n)
			}
		case ch == '&':
			b.WriteString("${0}")
		case ch == '$':
			b.WriteString("$$")
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

func cmdSed(c *cmdCtx, args []string) int {
	o, rest, ok := c.parseFlags(args, "e:nEri", map[string]byte{"expression": 'e', "quiet": 'n', "silent": 'n', "regexp-extended": 'E', "in-place": 'i'})
	if !ok {
		return 2
	}
	scripts := o['e']
	if len(scripts) == 0 {
		if len(rest) == 0 {
			fmt.Fprintf(c.stderr, "Usage: sed [OPTION]... {script-only-if-no-other-script} [input-file]...\n")
			return 1
		}
		scripts, rest = rest[:1], rest[1:]
	}
	prog, err := parseSed(strings.Join(scripts, "\n"), o.has('E') || o.has('r'))
	if err != nil {
		c.errorf("-e expression #1: %v", err)
		return 1
	}
	run := func(lines []string, w io.Writer) {
		for n, line := range lines {
			deleted := false
			for _, sc := range prog {
				if sc.addrRe != nil && !sc.addrRe.MatchString(line) ||
					sc.addrLine > 0 && sc.addrLine != n+1 || sc.addrLine == -1 && n != len(lines)-1 {
					continue
				}
				switch sc.op {
				case 'd':
					deleted = true
				case 'p':
					fmt.Fprintln(w, line)
				case 's':
					newLine, did := sedSubst(sc, line)
					line = newLine
					if did && sc.print {
						fmt.Fprintln(w, line)
					}
				}
				if deleted {
					break
				}
			}
			if !deleted && !o.has('n') {
				fmt.Fprintln(w, line)
			}
		}
	}
	if o.has('i') {
		if len(rest) == 0 {
			c.errorf("no input files")
			return 1
		}
		status := 0
		for _, f := range rest {
			data, err := c.readFile(c.abs(f))
			if err != nil {
				c.errorf("can't read %s: %s", f, errText(err))
				status = 2
				continue
			}
			lines, _ := readLines(strings.NewReader(data))
			var out bytes.Buffer
			run(lines, &out)
			if err := c.writeFileAtomic(c.abs(f), out.Bytes()); err != nil {
				c.errorf("couldn't edit %s: %s", f, errText(err))
				status = 4
			}
		}
		return status
	}
	var all []string
	status := c.eachInput(rest, func(name string, r io.Reader) error {
		ls, err := readLines(r)
		all = append(all, ls...)
		return err
	})
	if status != 0 {
		status = 2
	}
	run(all, c.stdout)
	return status
}

func sedSubst(sc sedCmd, line string) (string, bool) {
	locs := sc.re.FindAllStringSubmatchIndex(line, -1)
	if len(locs) == 0 {
		return line, false
	}
	var b strings.Builder
	last := 0
	did := false
	for i, loc := range locs {
		if !sc.global && (sc.nth == 0 && i > 0 || sc.nth > 0 && i+1 != sc.nth) {
			continue
		}
		b.WriteString(line[last:loc[0]])
		b.Write(sc.re.ExpandString(nil, sc.repl, line, loc))
		last = loc[1]
		did = true
	}
	b.WriteString(line[last:])
	return b.String(), did
}

func cmdSort(c *cmdCtx, args []string) int {
	o, files, ok := c.parseFlags(args, "rnut:k:fo:", map[string]byte{"reverse": 'r', "numeric-sort": 'n', "unique": 'u', "field-separator": 't', "key": 'k', "ignore-case": 'f', "output": 'o'})
	if !ok {
		return 2
	}
	var lines []string
	if status := c.eachInput(files, func(_ string, r io.Reader) error {
		ls, err := readLines(r)
		lines = append(lines, ls...)
		return err
	}); status != 0 {
		return 2
	}
	sep := o.last('t', "")
	keyField := 0
	if k := o.last('k', ""); k != "" {
		f, _, _ := strings.Cut(k, ",")
		f = strings.TrimRight(f, "bdfginr")
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			c.errorf("invalid number at field start: invalid count at start of '%s'", k)
			return 2
		}
		keyField = n
	}
	key := func(l string) string {
		if keyField == 0 {
			return l
		}
		var fields []string
		if sep != "" {
			fields = strings.Split(l, sep)
		} else {
			fields = strings.Fields(l)
		}
		if keyField > len(fields) {
			return ""
		}
		return fields[keyField-1]
	}
	cmp := func(a, b string) int {
		ka, kb := key(a), key(b)
		if o.has('f') {
			ka, kb = strings.ToLower(ka), strings.ToLower(kb)
		}
		if o.has('n') {
			na, _ := strconv.ParseFloat(leadingNumber(ka), 64)
			nb, _ := strconv.ParseFloat(leadingNumber(kb), 64)
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
			if o.has('u') {
				return 0
			}
		}
		if r := strings.Compare(ka, kb); r != 0 || o.has('u') {
			return r
		}
		return strings.Compare(a, b)
	}
	slices.SortStableFunc(lines, cmp)
	if o.has('r') {
		slices.Reverse(lines)
	}
	if o.has('u') {
		lines = slices.CompactFunc(lines, func(a, b string) bool { return cmp(a, b) == 0 })
	}
	out := c.stdout
	var buf bytes.Buffer
	if o.has('o') {
		out = &buf
	}
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	if f := o.last('o', ""); f != "" {
		if err := c.writeFileAtomic(c.abs(f), buf.Bytes()); err != nil {
			c.fileErr("open failed:", f, err)
			return 2
		}
	}
	return 0
}

func leadingNumber(s string) string {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.' || end == 0 && s[end] == '-') {
		end++
	}
	if end == 0 {
		return "0"
	}
	return s[:end]
}

func cmdUniq(c *cmdCtx, args []string) int {
	o, files, ok := c.parseFlags(args, "cdui", map[string]byte{"count": 'c', "repeated": 'd', "unique": 'u', "ignore-case": 'i'})
	if !ok {
		return 2
	}
	if len(files) > 1 {
		c.errorf("extra operand '%s'", files[1])
		return 2
	}
	var lines []string
	if status := c.eachInput(files, func(_ string, r io.Reader) error {
		var err error
		lines, err = readLines(r)
		return err
	}); status != 0 {
		return 1
	}
	eq := func(a, b string) bool {
		if o.has('i') {
			return strings.EqualFold(a, b)
		}
		return a == b
	}
	for i := 0; i < len(lines); {
		j := i + 1
		for j < len(lines) && eq(lines[i], lines[j]) {
			j++
		}
		n := j - i
		if (!o.has('d') || n > 1) && (!o.has('u') || n == 1) {
			if o.has('c') {
				fmt.Fprintf(c.stdout, "%7d %s\n", n, lines[i])
			} else {
				fmt.Fprintln(c.stdout, lines[i])
			}
		}
		i = j
	}
	return 0
}

// parseList parses cut's LIST ("1,3-5,7-").
func parseList(s string) (func(int) bool, error) {
	type rng struct{ lo, hi int }
	var rs []rng
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		var r rng
		var err error
		switch {
		case !isRange:
			r.lo, err = strconv.Atoi(lo)
			r.hi = r.lo
		default:
			r.lo, r.hi = 1, 1<<30
			if lo != "" {
				if r.lo, err = strconv.Atoi(lo); err != nil {
					break
				}
			}
			if hi != "" {
				r.hi, err = strconv.Atoi(hi)
			}
		}
		if err != nil || r.lo < 1 || r.hi < r.lo {
			return nil, fmt.Errorf("invalid field range")
		}
		rs = append(rs, r)
	}
	return func(n int) bool {
		for _, r := range rs {
			if n >= r.lo && n <= r.hi {
				return true
			}
		}
		return false
	}, nil
}

func cmdCut(c *cmdCtx, args []string) int {
	o, files, ok := c.parseFlags(args, "d:f:c:b:s", map[string]byte{"delimiter": 'd', "fields": 'f', "characters": 'c', "bytes": 'b', "only-delimited": 's'})
	if !ok {
		return 2
	}
	list := o.last('f', "")
	chars := false
	if !o.has('f') {
		list, chars = o.last('c', o.last('b', "")), true
		if !o.has('c') && !o.has('b') {
			c.usage("you must specify a list of bytes, characters, or fields")
			return 2
		}
	}
	sel, err := parseList(list)
	if err != nil {
		c.usage("%v", err)
		return 2
	}
	delim := o.last('d', "\t")
	if len(delim) != 1 {
		c.usage("the delimiter must be a single character")
		return 2
	}
	return c.eachInput(files, func(_ string, r io.Reader) error {
		ls, err := readLines(r)
		for _, l := range ls {
			var out []string
			if chars {
				var b strings.Builder
				for i, ch := range []rune(l) {
					if sel(i + 1) {
						b.WriteRune(ch)
					}
				}
				fmt.Fprintln(c.stdout, b.String())
				continue
			}
			if !strings.Contains(l, delim) {
				if !o.has('s') {
					fmt.Fprintln(c.stdout, l)
				}
				continue
			}
			for i, f := range strings.Split(l, delim) {
				if sel(i + 1) {
					out = append(out, f)
				}
			}
			fmt.Fprintln(c.stdout, strings.Join(out, delim))
		}
		return err
	})
}

// expandSet expands a tr set: ranges, escapes and [:classes:].
func expandSet(s string) []rune {
	classes := map[string]func(rune) bool{
		"[:lower:]": unicode.IsLower, "[:upper:]": unicode.IsUpper, "[:digit:]": unicode.IsDigit,
		"[:space:]": unicode.IsSpace, "[:alpha:]": unicode.IsLetter, "[:punct:]": unicode.IsPunct,
		"[:alnum:]": func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) },
		"[:blank:]": func(r rune) bool { return r == ' ' || r == '\t' },
	}
	var out []rune
	rs := []rune(unescape(s))
	for i := 0; i < len(rs); i++ {
		rest := string(rs[i:])
		matched := false
		for name, fn := range classes {
			if strings.HasPrefix(rest, name) {
				for r := rune(0); r < 128; r++ {
					if fn(r) {
						out = append(out, r)
					}
				}
				i += len(name) - 1
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		if i+2 < len(rs) && rs[i+1] == '-' && rs[i+2] >= rs[i] {
			for r := rs[i]; r <= rs[i+2]; r++ {
				out = append(out, r)
			}
			i += 2
			continue
		}
		out = append(out, rs[i])
	}
	return out
}

func cmdTr(c *cmdCtx, args []string) int {
	o, sets, ok := c.parseFlags(args, "dsc", map[string]byte{"delete": 'd', "squeeze-repeats": 's', "complement": 'c'})
	if !ok {
		return 2
	}
	if len(sets) == 0 || (!o.has('d') && !o.has('s') && len(sets) < 2) {
		if len(sets) == 0 {
			return c.missing("operand")
		}
		c.usage("missing operand after '%s'", sets[0])
		return 2
	}
	set1 := expandSet(sets[0])
	in1 := func(r rune) bool { return slices.Contains(set1, r) != o.has('c') }
	var set2 []rune
	if len(sets) > 1 {
		set2 = expandSet(sets[1])
	}
	data, err := io.ReadAll(c.stdin)
	if err != nil {
		c.errorf("read error: %s", errText(err))
		return 1
	}
	var b strings.Builder
	var last rune = -1
	for _, r := range string(data) {
		if in1(r) {
			switch {
			case o.has('d'):
				continue
			case len(set2) > 0:
				i := slices.Index(set1, r)
				if i < 0 || i >= len(set2) {
					r = set2[len(set2)-1]
				} else {
					r = set2[i]
				}
			}
		}
		if o.has('s') && r == last {
			squeezeSet := set1
			if len(set2) > 0 && !o.has('d') {
				squeezeSet = set2
			}
			if slices.Contains(squeezeSet, r) {
				continue
			}
		}
		b.WriteRune(r)
		last = r
	}
	io.WriteString(c.stdout, b.String())
	return 0
}

// hashCmd implements sha256sum and friends, including --check.
func hashCmd(newHash func() hash.Hash) command {
	return func(c *cmdCtx, args []string) int {
		o, files, ok := c.parseFlags(args, "cbt", map[string]byte{"check": 'c', "binary": 'b', "text": 't', "quiet": 'q', "status": 's', "tag": 'T'})
		if !ok {
			return 2
		}
		if o.has('c') {
			return c.hashCheck(newHash, files, o.has('q'), o.has('s'))
		}
		if len(files) == 0 {
			files = []string{"-"}
		}
		status := 0
		for _, f := range files {
			r, err := c.open(f, true)
			if err != nil {
				c.fileErr("", f, err)
				status = 1
				continue
			}
			h := newHash()
			_, err = io.Copy(h, r)
			r.Close()
			if err != nil {
				c.fileErr("", f, err)
				status = 1
				continue
			}
			sum := hex.EncodeToString(h.Sum(nil))
			name := f
			if strings.ContainsAny(f, "\\\n") {
				// coreutils escapes such names and marks the line.
				name = strings.NewReplacer("\\", "\\\\", "\n", "\\n").Replace(f)
				sum = "\\" + sum
			}
			fmt.Fprintf(c.stdout, "%s  %s\n", sum, name)
		}
		return status
	}
}

func (c *cmdCtx) hashCheck(newHash func() hash.Hash, files []string, quiet, silent bool) int {
	failed, status := 0, 0
	st := c.eachInput(files, func(_ string, r io.Reader) error {
		ls, err := readLines(r)
		for _, l := range ls {
			sum, name, ok := strings.Cut(l, "  ")
			if !ok {
				sum, name, ok = strings.Cut(l, " *")
			}
			if !ok {
				continue
			}
			f, err := c.open(name, false)
			if err != nil {
				if !silent {
					c.errorf("%s: %s", name, errText(err))
					fmt.Fprintf(c.stdout, "%s: FAILED open or read\n", name)
				}
				failed++
				continue
			}
			h := newHash()
			io.Copy(h, f)
			f.Close()
			if hex.EncodeToString(h.Sum(nil)) == strings.ToLower(sum) {
				if !quiet && !silent {
					fmt.Fprintf(c.stdout, "%s: OK\n", name)
				}
			} else {
				if !silent {
					fmt.Fprintf(c.stdout, "%s: FAILED\n", name)
				}
				failed++
			}
		}
		return err
	})
	if failed > 0 {
		if !silent {
			c.errorf("WARNING: %d computed checksum did NOT match", failed)
		}
		status = 1
	}
	return max(st, status)
}

func cmdBase64(c *cmdCtx, args []string) int {
	o, files, ok := c.parseFlags(args, "dw:i", map[string]byte{"decode": 'd', "wrap": 'w', "ignore-garbage": 'i'})
	if !ok {
		return 2
	}
	if len(files) > 1 {
		c.errorf("extra operand '%s'", files[1])
		return 2
	}
	wrap, err := strconv.Atoi(o.last('w', "76"))
	if err != nil || wrap < 0 {
		c.errorf("invalid wrap size: '%s'", o.last('w', ""))
		return 1
	}
	return c.eachInput(files, func(_ string, r io.Reader) error {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if o.has('d') {
			clean := strings.Map(func(r rune) rune {
				if unicode.IsSpace(r) {
					return -1
				}
				return r
			}, string(data))
			out, err := base64.StdEncoding.DecodeString(clean)
			c.stdout.Write(out)
			if err != nil {
				c.errorf("invalid input")
				return errSilent
			}
			return nil
		}
		enc := base64.StdEncoding.EncodeToString(data)
		for wrap > 0 && len(enc) > wrap {
			fmt.Fprintln(c.stdout, enc[:wrap])
			enc = enc[wrap:]
		}
		if enc != "" {
			fmt.Fprintln(c.stdout, enc)
		}
		return nil
	})
}

func cmdXargs(c *cmdCtx, args []string) int {
	o, cmd, ok := c.parseFlags(xargsOptions(args), "n:I:0rd:", map[string]byte{"max-args": 'n', "null": '0', "no-run-if-empty": 'r', "delimiter": 'd'})
	if !ok {
		return 2
	}
	if len(cmd) == 0 {
		cmd = []string{"echo"}
	}
	data, err := io.ReadAll(c.stdin)
	if err != nil {
		c.errorf("%s", errText(err))
		return 1
	}
	var items []string
	switch {
	case o.has('0'):
		items = strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
	case o.has('d'):
		d := unescape(o.last('d', "\n"))
		items = strings.Split(strings.TrimSuffix(string(data), d), d)
	case o.has('I'):
		items, _ = readLines(bytes.NewReader(data))
	default:
		items = strings.Fields(string(data))
	}
	items = slices.DeleteFunc(items, func(s string) bool { return s == "" })
	if len(items) == 0 && (o.has('r') || o.has('I')) {
		return 0
	}
	status := 0
	runOne := func(argv []string) bool {
		code := c.run(argv)
		switch {
		case code == 255:
			c.errorf("%s: exited with status 255; aborting", argv[0])
			status = 124
			return false
		case code == 126 || code == 127:
			status = code
			return false
		case code != 0:
			status = 123
		}
		return c.ctx.Err() == nil
	}
	if repl := o.last('I', ""); repl != "" {
		for _, it := range items {
			argv := make([]string, len(cmd))
			for i, a := range cmd {
				argv[i] = strings.ReplaceAll(a, repl, it)
			}
			if !runOne(argv) {
				break
			}
		}
		return status
	}
	n := len(items)
	if v := o.last('n', ""); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			c.errorf("invalid number \"%s\" for -n option", v)
			return 1
		}
	}
	if len(items) == 0 {
		runOne(cmd)
		return status
	}
	for i := 0; i < len(items); i += n {
		argv := append(slices.Clone(cmd), items[i:min(len(items), i+n)]...)
		if !runOne(argv) {
			break
		}
	}
	return status
}

// xargsOptions stops option parsing at the command: xargs's own options
// come first, everything from the first operand on is the command.
func xargsOptions(args []string) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			return append(slices.Clone(args[:i]), append([]string{"--"}, args[i:]...)...)
		}
		if a == "-n" || a == "-I" || a == "-d" {
			i++
		}
	}
	return args
}

func cmdSeq(c *cmdCtx, args []string) int {
	nums := make([]int, 0, 3)
	for _, a := range args {
		n, err := strconv.Atoi(a)
		if err != nil {
			c.errorf("invalid floating point argument: '%s'", a)
			return 1
		}
		nums = append(nums, n)
	}
	first, step, last := 1, 1, 0
	switch len(nums) {
	case 1:
		last = nums[0]
	case 2:
		first, last = nums[0], nums[1]
	case 3:
		first, step, last = nums[0], nums[1], nums[2]
	default:
		return c.missing("operand")
	}
	if step == 0 {
		c.errorf("invalid Zero increment value: '0'")
		return 1
	}
	for i := first; step > 0 && i <= last || step < 0 && i >= last; i += step {
		fmt.Fprintln(c.stdout, i)
	}
	return 0
}

// unescape interprets backslash escapes as tr and stat --printf do.
func unescape(s string) string {
	r := strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\\`, `\`, `\r`, "\r", `\0`, "\x00")
	return r.Replace(s)
}
