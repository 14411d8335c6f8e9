package inventory

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// An Ansible INI inventory is read into the same blocks as HCL: [all:vars]
// is the defaults block, each group its group block (its [NAME:vars] are
// the group's settings and vars), each host line adds to the host's block.
// See the package documentation for what is supported.

// iniSection is the kind of section being read.
type iniSection int

const (
	iniHosts iniSection = iota
	iniChildren
	iniVars
)

// iniHost is a host as its lines in the file make it.
type iniHost struct {
	hb *hostBlock
	// groups lists the groups the host is written under, with the range
	// of the line that put it there.
	groups      []string
	groupRanges map[string]hcl.Range
}

// iniReader holds the state of reading one INI file.
type iniReader struct {
	b        *builder
	filename string
	hosts    []*iniHost
	hostByN  map[string]*iniHost
	// parents maps a group to the groups it is a child of, with the
	// range of the line that says so.
	parents     map[string][]string
	parentRange map[string]map[string]hcl.Range
	// groupLine remembers where a group was first mentioned, for the
	// shared host/group namespace check.
	groupLine map[string]hcl.Range
	// masks are the key=value ranges whose value is a password, hidden
	// from the source that diagnostics quote.
	masks []hcl.Range
}

var iniVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maxRangeHosts bounds what one host pattern may expand to.
const maxRangeHosts = 10000

func (b *builder) decodeINI(src []byte, filename string) {
	r := &iniReader{
		b: b, filename: filename,
		hostByN:     map[string]*iniHost{},
		parents:     map[string][]string{},
		parentRange: map[string]map[string]hcl.Range{},
		groupLine:   map[string]hcl.Range{},
	}
	section, group := iniHosts, "ungrouped"
	offset := 0
	lineNo := 0
	for raw := range strings.Lines(string(src)) {
		lineNo++
		lineStart := offset
		offset += len(raw)
		line := strings.TrimRight(raw, "\r\n")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';' {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		rng := func(from, to int) hcl.Range {
			return r.rangeAt(lineNo, lineStart, from, to)
		}
		if trimmed[0] == '[' {
			end := strings.IndexByte(trimmed, ']')
			rest := ""
			if end >= 0 {
				rest = strings.TrimSpace(trimmed[end+1:])
			}
			if end < 0 || (rest != "" && rest[0] != '#' && rest[0] != ';') {
				b.add(r.errorAt(rng(indent, len(line)), "Invalid section header", "A section header is [NAME], [NAME:children] or [NAME:vars], alone on its line."))
				section, group = iniHosts, "" // skip the section's lines
				continue
			}
			header := rng(indent, indent+end+1)
			name, kind, hasKind := strings.Cut(trimmed[1:end], ":")
			name = strings.TrimSpace(name)
			switch {
			case !hasKind:
				section = iniHosts
			case kind == "children":
				section = iniChildren
			case kind == "vars":
				section = iniVars
			default:
				b.add(r.errorAt(header, "Unknown section kind", fmt.Sprintf("[%s:%s]: a section is [NAME], [NAME:children] or [NAME:vars].", name, kind)))
				section, group = iniHosts, ""
				continue
			}
			group = name
			switch {
			case name == "all" || name == "ungrouped":
				if name == "ungrouped" && section != iniHosts {
					b.add(r.errorAt(header, "Unsupported section", fmt.Sprintf("[ungrouped:%s] is not supported: put the settings in [all:vars], or the hosts in a group.", kind)))
					group = ""
				}
				if name == "all" && section == iniVars && b.defaults == nil {
					b.defaults, b.defRange = newSettings(), header
					b.blocks = append(b.blocks, b.defaults)
				}
			case !r.declareGroup(name, header):
				group = ""
			}
			continue
		}
		if group == "" {
			continue // in a section already reported as bad
		}
		switch section {
		case iniHosts:
			r.hostLine(line, group, rng)
		case iniChildren:
			r.childLine(line, group, rng)
		case iniVars:
			r.varsLine(line, group, rng)
		}
	}
	r.finish()
	b.inv.Files[filename] = &hcl.File{Bytes: maskValues(src, r.masks)}
}

// maskValues returns src with the value after the first '=' of each range
// replaced by '*', so that a password written in the file is not repeated
// on the terminal when a diagnostic quotes its line.
func maskValues(src []byte, masks []hcl.Range) []byte {
	if len(masks) == 0 {
		return src
	}
	out := slices.Clone(src)
	for _, m := range masks {
		if m.Start.Byte < 0 || m.End.Byte > len(out) || m.Start.Byte > m.End.Byte {
			continue
		}
		span := out[m.Start.Byte:m.End.Byte]
		eq := bytes.IndexByte(span, '=')
		if eq < 0 {
			continue
		}
		for i := eq + 1; i < len(span); i++ {
			if span[i] != ' ' && span[i] != '\t' {
				span[i] = '*'
			}
		}
	}
	return out
}

// rangeAt is the range of bytes [from, to) of the line starting at byte
// lineStart of the file.
func (r *iniReader) rangeAt(line, lineStart, from, to int) hcl.Range {
	return hcl.Range{
		Filename: r.filename,
		Start:    hcl.Pos{Line: line, Column: from + 1, Byte: lineStart + from},
		End:      hcl.Pos{Line: line, Column: to + 1, Byte: lineStart + to},
	}
}

func (r *iniReader) errorAt(rng hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}
}

func (r *iniReader) warningAt(rng hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: detail, Subject: rng.Ptr()}
}

// declareGroup makes sure group name exists, and tells whether the name is
// usable.
func (r *iniReader) declareGroup(name string, rng hcl.Range) bool {
	b := r.b
	if _, ok := b.groups[name]; ok {
		return true
	}
	if !validName(name) {
		b.add(r.errorAt(rng, "Invalid group name", fmt.Sprintf("%q is not a valid group name: use letters, digits, '.', '_' and '-' only (it becomes a directory name), and not \".\" or \"..\".", name)))
		return false
	}
	g := &Group{Name: name, DeclRange: rng}
	s := newSettings()
	b.groups[name] = &groupBlock{group: g, s: s}
	b.inv.Groups = append(b.inv.Groups, g)
	b.blocks = append(b.blocks, s)
	r.groupLine[name] = rng
	return true
}

// settingsOf is the block a vars section of group writes to.
func (r *iniReader) settingsOf(group string) *settings {
	if group == "all" {
		return r.b.defaults
	}
	return r.b.groups[group].s
}

func (r *iniReader) hostLine(line, group string, rng func(int, int) hcl.Range) {
	b := r.b
	toks, err := splitINILine(line)
	if err != nil {
		b.add(r.errorAt(rng(0, len(line)), "Invalid host line", err.Error()+"."))
		return
	}
	if len(toks) == 0 {
		return
	}
	pat := toks[0]
	patRng := rng(pat.start, pat.end)
	pattern, port, err := splitHostPort(pat.text)
	if err != nil {
		b.add(r.errorAt(patRng, "Invalid host", fmt.Sprintf("%q: %v.", pat.text, err)))
		return
	}
	names, err := expandHostRange(pattern)
	if err != nil {
		b.add(r.errorAt(patRng, "Invalid host range", fmt.Sprintf("%q: %v.", pattern, err)))
		return
	}
	for _, name := range names {
		if !validName(name) {
			b.add(r.errorAt(patRng, "Invalid host name", fmt.Sprintf("%q is not a valid host name: use letters, digits, '.', '_' and '-' only (it becomes a directory name); give an IPv6 address as ansible_host.", name)))
			return
		}
		if name == "all" || name == "ungrouped" {
			b.add(r.errorAt(patRng, "Reserved host name", fmt.Sprintf("%q names a group of every host (in --limit, and in Ansible).", name)))
			return
		}
	}
	var hosts []*iniHost
	for _, name := range names {
		h := r.hostByN[name]
		if h == nil {
			hb := &hostBlock{host: &Host{Name: name, DeclRange: patRng}, s: newSettings()}
			h = &iniHost{hb: hb, groupRanges: map[string]hcl.Range{}}
			r.hostByN[name] = h
			r.hosts = append(r.hosts, h)
			b.hosts = append(b.hosts, hb)
			b.hostBlocks[name] = hb
			b.blocks = append(b.blocks, hb.s)
		}
		if group != "all" && group != "ungrouped" && !slices.Contains(h.groups, group) {
			h.groups = append(h.groups, group)
			h.groupRanges[group] = patRng
		}
		hosts = append(hosts, h)
	}
	if port != "" {
		for _, h := range hosts {
			r.setting(h.hb.s, "ansible_port", port, patRng)
		}
	}
	for _, t := range toks[1:] {
		key, val, ok := strings.Cut(t.text, "=")
		trng := rng(t.start, t.end)
		if !ok || key == "" {
			b.add(r.errorAt(trng, "Invalid host variable", fmt.Sprintf("%q: after the host, write key=value pairs (quote a value with spaces).", t.text)))
			continue
		}
		for _, h := range hosts {
			r.setting(h.hb.s, key, val, trng)
		}
	}
}

func (r *iniReader) childLine(line, group string, rng func(int, int) hcl.Range) {
	b := r.b
	toks, err := splitINILine(line)
	if err != nil || len(toks) != 1 {
		b.add(r.errorAt(rng(0, len(line)), "Invalid child group", "A [NAME:children] section lists one group name per line."))
		return
	}
	child := toks[0].text
	crng := rng(toks[0].start, toks[0].end)
	switch child {
	case "all", "ungrouped":
		b.add(r.errorAt(crng, "Invalid child group", fmt.Sprintf("%q cannot be a child group.", child)))
		return
	case group:
		b.add(r.errorAt(crng, "Group cycle", fmt.Sprintf("Group %q cannot be its own child.", child)))
		return
	}
	if !r.declareGroup(child, crng) || group == "all" {
		return
	}
	if !slices.Contains(r.parents[child], group) {
		r.parents[child] = append(r.parents[child], group)
		if r.parentRange[child] == nil {
			r.parentRange[child] = map[string]hcl.Range{}
		}
		r.parentRange[child][group] = crng
	}
}

func (r *iniReader) varsLine(line, group string, rng func(int, int) hcl.Range) {
	b := r.b
	indent := len(line) - len(strings.TrimLeft(line, " \t"))
	eq := strings.IndexByte(line, '=')
	if eq < 0 {
		b.add(r.errorAt(rng(indent, len(line)), "Invalid variable", "A [NAME:vars] section holds key=value lines."))
		return
	}
	key := strings.TrimSpace(line[:eq])
	val, err := iniVarValue(line[eq+1:])
	lrng := rng(indent, len(strings.TrimRight(line, " \t")))
	if err != nil {
		b.add(r.errorAt(lrng, "Invalid variable", fmt.Sprintf("%s: %v.", key, err)))
		return
	}
	s := r.settingsOf(group)
	r.setting(s, key, val, lrng)
}

// iniVarValue is a [NAME:vars] value: a quoted value is unquoted, an
// unquoted one ends at a " #" or " ;" comment, and is trimmed.
func iniVarValue(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if s[0] == '"' || s[0] == '\'' {
		toks, err := splitINILine(s)
		if err != nil {
			return "", err
		}
		if len(toks) != 1 {
			return "", errors.New("text follows the quoted value")
		}
		return toks[0].text, nil
	}
	for i := 1; i < len(s); i++ {
		if (s[i] == '#' || s[i] == ';') && (s[i-1] == ' ' || s[i-1] == '\t') {
			return strings.TrimSpace(s[:i]), nil
		}
	}
	return s, nil
}

// setting applies one Ansible variable to a block: the connection
// variables become settings, other ansible_* are ignored with a warning,
// passwords are refused, the rest are vars (strings).
func (r *iniReader) setting(s *settings, key, val string, rng hcl.Range) {
	b := r.b
	d := b.d
	str := func() field[string] { return field[string]{val: val, set: true, rng: rng} }
	switch key {
	case "ansible_host", "ansible_ssh_host":
		if err := checkAddress(val); err != nil {
			b.add(r.errorAt(rng, "Invalid address", fmt.Sprintf("%s %q: %v.", key, val, err)))
			return
		}
		s.address = str()
	case "ansible_port", "ansible_ssh_port":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > 65535 {
			b.add(r.errorAt(rng, "Invalid port", fmt.Sprintf("%s must be a whole number from 1 to 65535, not %q.", key, val)))
			return
		}
		s.port = field[int]{val: n, set: true, rng: rng}
	case "ansible_user", "ansible_ssh_user":
		if val == "" || strings.IndexFunc(val, unicode.IsSpace) >= 0 || strings.ContainsAny(val, "@:") {
			b.add(r.errorAt(rng, "Invalid user", fmt.Sprintf("%s must be non-empty, without spaces, '@' or ':'.", key)))
			return
		}
		s.user = str()
	case "ansible_ssh_private_key_file", "ansible_private_key_file":
		p, err := d.resolvePath(val)
		if err != nil {
			b.add(r.errorAt(rng, "Invalid path", fmt.Sprintf("%s: %v.", key, err)))
			return
		}
		s.identityFiles = field[[]string]{val: []string{p}, set: true, rng: rng, elems: []hcl.Range{rng}, elemSecret: []bool{false}}
	case "ansible_password", "ansible_ssh_pass", "ansible_ssh_password", "ansible_become_password", "ansible_become_pass":
		r.masks = append(r.masks, rng)
		b.add(r.errorAt(rng, "Password in the inventory", fmt.Sprintf(
			"%s: smcfleet does not read passwords from an inventory file. Use keys (ansible_ssh_private_key_file, or the SSH agent), or an HCL inventory with password = env(\"SMC_SSH_PASSWORD\"), which takes the password from the environment and redacts it everywhere.", key)))
	case "ansible_connection":
		switch val {
		case "ssh", "smart", "paramiko":
		default:
			b.add(r.errorAt(rng, "Unsupported connection", fmt.Sprintf("ansible_connection=%s: smcfleet reaches hosts over SSH only.", val)))
		}
	case "ansible_ssh_timeout", "ansible_timeout":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 {
			b.add(r.errorAt(rng, "Invalid duration", fmt.Sprintf("%s must be a positive number of seconds, not %q.", key, val)))
			return
		}
		s.connectTimeout = field[time.Duration]{val: time.Duration(n) * time.Second, set: true, rng: rng}
	case "smcfleet_known_hosts":
		p, err := d.resolvePath(val)
		if err != nil {
			b.add(r.errorAt(rng, "Invalid path", fmt.Sprintf("%s: %v.", key, err)))
			return
		}
		s.knownHosts = field[string]{val: p, set: true, rng: rng}
	case "smcfleet_host_keys":
		f := field[[]string]{val: []string{}, set: true, rng: rng}
		for _, k := range strings.Split(val, ",") {
			if k = strings.TrimSpace(k); k == "" {
				continue
			}
			if err := checkHostKey(k); err != nil {
				b.add(r.errorAt(rng, "Invalid host key", fmt.Sprintf("%s: %q: %v.", key, k, err)))
				return
			}
			f.val = append(f.val, k)
			f.elems = append(f.elems, rng)
			f.elemSecret = append(f.elemSecret, false)
		}
		s.hostKeys = f
	case "smcfleet_ssh_agent":
		v, err := strconv.ParseBool(strings.ToLower(val))
		if err != nil {
			b.add(r.errorAt(rng, "Invalid value", fmt.Sprintf("%s is true or false, not %q.", key, val)))
			return
		}
		s.sshAgent = field[bool]{val: v, set: true, rng: rng}
	case "smcfleet_ssh_config":
		p := val
		if err := d.resolveSSHConfigPath(&p); err != nil {
			b.add(r.errorAt(rng, "Invalid path", fmt.Sprintf("%s: %v.", key, err)))
			return
		}
		s.sshConfig = field[string]{val: p, set: true, rng: rng}
	case "smcfleet_jump":
		var hops []string
		var elems []hcl.Range
		for _, j := range strings.Split(val, ",") {
			if j = strings.TrimSpace(j); j != "" {
				hops = append(hops, j)
				elems = append(elems, rng)
			}
		}
		s.jump = field[[]string]{val: hops, set: true, rng: rng, elems: elems, elemSecret: make([]bool, len(hops))}
	default:
		switch {
		case strings.HasPrefix(key, "ansible_become"):
			b.add(r.warningAt(rng, "Ansible variable ignored", fmt.Sprintf("%s: smcfleet runs every step as the SSH user; privilege escalation is not supported (set ansible_user=root where root is needed).", key)))
		case strings.HasPrefix(key, "ansible_"):
			b.add(r.warningAt(rng, "Ansible variable ignored", fmt.Sprintf("%s is not used by smcfleet. It reads ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file and ansible_ssh_timeout; jump hosts come from ProxyJump in ~/.ssh/config or smcfleet_jump.", key)))
		case strings.HasPrefix(key, "smcfleet_"):
			b.add(r.errorAt(rng, "Unknown smcfleet setting", fmt.Sprintf("%s: the INI settings are smcfleet_known_hosts, smcfleet_host_keys, smcfleet_ssh_agent, smcfleet_jump and smcfleet_ssh_config.", key)))
		case !iniVarName.MatchString(key):
			b.add(r.errorAt(rng, "Invalid variable name", fmt.Sprintf("%q: a variable name is letters, digits and '_', not starting with a digit.", key)))
		default:
			s.vars[key] = cty.StringVal(val)
		}
	}
}

// finish orders each host's groups as Ansible merges them: ancestors
// before descendants (by depth from "all"), then by name; checks that no
// name is both a host and a group; and reports child cycles.
func (r *iniReader) finish() {
	b := r.b
	depth := map[string]int{}
	const visiting = -1
	var visit func(g string, path []string) int
	visit = func(g string, path []string) int {
		switch d := depth[g]; {
		case d == visiting:
			return 1
		case d > 0:
			return d
		}
		depth[g] = visiting
		d := 1
		for _, p := range r.parents[g] {
			if depth[p] == visiting {
				names := append(slices.Clone(path), g, p)
				b.add(r.errorAt(r.parentRange[g][p], "Group cycle", fmt.Sprintf("Groups are children of each other: %s.", joinArrow(names))))
				continue
			}
			d = max(d, visit(p, append(path, g))+1)
		}
		depth[g] = d
		return d
	}
	for _, g := range b.inv.Groups {
		visit(g.Name, nil)
	}
	// ancestors returns g and every group above it.
	var ancestors func(g string, seen map[string]bool)
	ancestors = func(g string, seen map[string]bool) {
		if seen[g] {
			return
		}
		seen[g] = true
		for _, p := range r.parents[g] {
			ancestors(p, seen)
		}
	}
	for _, h := range r.hosts {
		name := h.hb.host.Name
		if rng, ok := r.groupLine[name]; ok {
			b.add(r.errorAt(h.hb.host.DeclRange, "Name used by a host and a group",
				fmt.Sprintf("%q is also a group (at %s); hosts and groups share one namespace so that --limit is never ambiguous.", name, posString(rng))))
		}
		seen := map[string]bool{}
		for _, g := range h.groups {
			ancestors(g, seen)
		}
		groups := make([]string, 0, len(seen))
		for g := range seen {
			groups = append(groups, g)
		}
		slices.SortFunc(groups, func(x, y string) int {
			return cmp.Or(cmp.Compare(depth[x], depth[y]), cmp.Compare(x, y))
		})
		f := field[[]string]{val: groups, set: true, rng: h.hb.host.DeclRange}
		for _, g := range groups {
			rng, ok := h.groupRanges[g]
			if !ok {
				rng = h.hb.host.DeclRange
			}
			f.elems = append(f.elems, rng)
		}
		h.hb.s.groups = f
	}
}

// iniToken is a word of a host line, unquoted, with its byte span.
type iniToken struct {
	text       string
	start, end int
}

// splitINILine splits a line as Python's shlex.split(line, comments=True)
// does, which is how Ansible reads host lines: words separated by blanks,
// '...' taken literally, "..." with \" and \\ escapes, a backslash
// escaping the next character outside quotes, and '#' outside quotes
// starting a comment.
func splitINILine(line string) ([]iniToken, error) {
	var toks []iniToken
	i := 0
	for i < len(line) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) || line[i] == '#' {
			break
		}
		start := i
		var w strings.Builder
		comment := false
	word:
		for i < len(line) {
			c := line[i]
			switch c {
			case ' ', '\t':
				break word
			case '#':
				comment = true
				break word
			case '\'':
				end := strings.IndexByte(line[i+1:], '\'')
				if end < 0 {
					return nil, errors.New("no closing quotation")
				}
				w.WriteString(line[i+1 : i+1+end])
				i += end + 2
			case '"':
				i++
				closed := false
				for i < len(line) {
					if line[i] == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
						w.WriteByte(line[i+1])
						i += 2
						continue
					}
					if line[i] == '"' {
						closed = true
						i++
						break
					}
					w.WriteByte(line[i])
					i++
				}
				if !closed {
					return nil, errors.New("no closing quotation")
				}
			case '\\':
				if i+1 < len(line) {
					w.WriteByte(line[i+1])
					i += 2
				} else {
					i++
				}
			default:
				w.WriteByte(c)
				i++
			}
		}
		toks = append(toks, iniToken{text: w.String(), start: start, end: i})
		if comment {
			break
		}
	}
	return toks, nil
}

// splitHostPort splits Ansible's "host:port" host pattern; a ':' inside
// a [range] is not a port.
func splitHostPort(s string) (host, port string, err error) {
	after := s
	prefix := ""
	if i := strings.LastIndexByte(s, ']'); i >= 0 {
		prefix, after = s[:i+1], s[i+1:]
	}
	h, p, ok := strings.Cut(after, ":")
	if !ok {
		return s, "", nil
	}
	if strings.Contains(p, ":") || (prefix == "" && h == "") {
		return "", "", errors.New("an IPv6 address is not a host name; name the host and give the address as ansible_host")
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("bad port %q", p)
	}
	return prefix + h, p, nil
}

// expandHostRange expands Ansible's host ranges: smc[01:10] (zero-padded
// when the start is), smc[1:9:2] (with a stride) and node-[a:f].
func expandHostRange(s string) ([]string, error) {
	i := strings.IndexByte(s, '[')
	if i < 0 {
		if strings.Contains(s, "]") {
			return nil, errors.New("']' without '['")
		}
		return []string{s}, nil
	}
	j := strings.IndexByte(s[i:], ']')
	if j < 0 {
		return nil, errors.New("'[' without ']'")
	}
	j += i
	prefix, inner, suffix := s[:i], s[i+1:j], s[j+1:]
	parts := strings.Split(inner, ":")
	if len(parts) != 2 && len(parts) != 3 {
		return nil, fmt.Errorf("[%s] is not a range [START:END] or [START:END:STEP]", inner)
	}
	step := 1
	if len(parts) == 3 {
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("step %q is not a positive number", parts[2])
		}
		step = n
	}
	beg, end := parts[0], parts[1]
	if beg == "" {
		beg = "0" // as Ansible: [:3] is [0:3]
	}
	var items []string
	if isDigits(beg) && isDigits(end) {
		a, _ := strconv.Atoi(beg)
		z, err := strconv.Atoi(end)
		if err != nil || a > z {
			return nil, fmt.Errorf("[%s]: the start is after the end", inner)
		}
		if (z-a)/step+1 > maxRangeHosts {
			return nil, fmt.Errorf("[%s] makes more than %d hosts", inner, maxRangeHosts)
		}
		width := 0
		if len(beg) > 1 && beg[0] == '0' {
			if len(beg) != len(end) {
				return nil, fmt.Errorf("[%s]: a zero-padded range needs a start and end of the same width", inner)
			}
			width = len(beg)
		}
		for n := a; n <= z; n += step {
			items = append(items, fmt.Sprintf("%0*d", width, n))
		}
	} else if len(beg) == 1 && len(end) == 1 && isLower(beg[0]) && isLower(end[0]) || len(beg) == 1 && len(end) == 1 && isUpper(beg[0]) && isUpper(end[0]) {
		if beg[0] > end[0] {
			return nil, fmt.Errorf("[%s]: the start is after the end", inner)
		}
		for c := int(beg[0]); c <= int(end[0]); c += step {
			items = append(items, string(rune(c)))
		}
	} else {
		return nil, fmt.Errorf("[%s]: a range is numbers ([01:10]) or single letters ([a:f])", inner)
	}
	rest, err := expandHostRange(suffix)
	if err != nil {
		return nil, err
	}
	if len(items)*len(rest) > maxRangeHosts {
		return nil, fmt.Errorf("the pattern makes more than %d hosts", maxRangeHosts)
	}
	var out []string
	for _, it := range items {
		for _, r := range rest {
			out = append(out, prefix+it+r)
		}
	}
	return out, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
