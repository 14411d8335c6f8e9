package inventory

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/smcfleet/smcfleet/internal/lang"
	"github.com/zclconf/go-cty/cty"
)

// Built-in defaults; see the package documentation.
const (
	DefaultPort           = 22
	DefaultConnectTimeout = 10 * time.Second
	defaultKnownHosts     = "~/.ssh/known_hosts"
)

// LoadOptions tune Load and Parse.
type LoadOptions struct {
	// Getenv looks up environment variables for env(), HOME, USER and
	// SMCFLEET_SSH_CONFIG; nil means os.LookupEnv.
	Getenv func(string) (string, bool)
	// Format is FormatHCL, FormatINI or "" to tell by the file name and
	// content (see DetectFormat).
	Format string
	// SSHConfig is the OpenSSH client configuration consulted for hosts
	// whose inventory sets no ssh_config: a path, "none" for none, or ""
	// for $SMCFLEET_SSH_CONFIG when set (empty or "none" for none), else
	// ~/.ssh/config when it exists.
	SSHConfig string
}

// Inventory formats.
const (
	FormatHCL = "hcl"
	FormatINI = "ini" // Ansible's INI inventory
)

// SSHConfigEnv names the environment variable that chooses the OpenSSH
// client configuration when LoadOptions.SSHConfig is empty.
const SSHConfigEnv = "SMCFLEET_SSH_CONFIG"

// Inventory is a loaded inventory file.
type Inventory struct {
	Path   string
	Hosts  []*Host  // file order
	Groups []*Group // file order
	// Files holds the parsed sources, for hcl.NewDiagnosticTextWriter.
	Files map[string]*hcl.File

	byName            map[string]*Host
	defaultKnownHosts string
}

// Group is a declared group. Its settings are already merged into the hosts
// that list it.
type Group struct {
	Name      string
	DeclRange hcl.Range
}

// Host is one machine with every setting resolved: defaults, groups and the
// host block merged, built-in defaults applied, paths absolute.
type Host struct {
	Name    string
	Address string
	Port    int
	User    string

	IdentityFiles []string
	SSHAgent      bool
	Password      string // secret
	KnownHosts    string // empty when only HostKeys are trusted
	HostKeys      []string
	// Jump is as written: inventory host names or [user@]host[:port]
	// strings; JumpChain resolves it.
	Jump           []string
	ConnectTimeout time.Duration
	// SSHConfig is the OpenSSH client configuration file that was
	// consulted for this host ("" when none); its HostName, Port, User,
	// IdentityFile, ProxyJump, UserKnownHostsFile, ConnectTimeout and
	// IdentityAgent none fill what the inventory does not set.
	SSHConfig string

	Groups []string
	Vars   map[string]cty.Value // merged, marks preserved
	API    *API                 // nil when no api block applies
	// DeclRange is the host block's header; for a hop made by JumpChain from
	// a string, the range of that string.
	DeclRange hcl.Range

	// sensitive names the fields (as "user", "identity_files[1]",
	// "api.username") whose value is secret, for View.
	sensitive map[string]bool
	// fieldSecrets are the secret strings of non-password fields, both as
	// evaluated and as resolved (paths).
	fieldSecrets []string
	jumpRanges   []hcl.Range
	// sshCfg resolves the "[user@]host[:port]" jump entries.
	sshCfg *sshConfigFile
}

// API is how to reach the host's REST API.
type API struct {
	URL               string
	Username          string
	Password          string // secret
	CAFile            string
	FingerprintSHA256 string // upper-case hex pairs joined by ':'
	Insecure          bool
}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func validName(s string) bool {
	return nameRe.MatchString(s) && s != "." && s != ".."
}

// Load reads and decodes the inventory at path: HCL, or an Ansible INI
// inventory (see DetectFormat). The inventory is returned even with errors,
// so that diagnostics can be rendered with its Files; it must not be used
// when the diagnostics have errors.
func Load(path string, opts LoadOptions) (*Inventory, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return &Inventory{Path: path, Files: map[string]*hcl.File{}}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read inventory",
			Detail:   err.Error(),
		}}
	}
	baseDir := filepath.Dir(path)
	if abs, err := filepath.Abs(path); err == nil {
		baseDir = filepath.Dir(abs)
	}
	return parse(src, path, baseDir, opts)
}

// Parse decodes inventory source as if read from filename; relative paths
// and file() resolve against filepath.Dir(filename).
func Parse(src []byte, filename string, opts LoadOptions) (*Inventory, hcl.Diagnostics) {
	return parse(src, filename, filepath.Dir(filename), opts)
}

// DetectFormat tells an inventory's format: FormatINI for a name ending
// in .ini or .cfg, FormatHCL for .hcl; otherwise FormatINI when the first
// line that is not blank or a comment starts with '[' or when there is no
// '{' at all (an Ansible "hosts" file), else FormatHCL.
func DetectFormat(filename string, src []byte) string {
	switch strings.ToLower(filepath.Ext(filename)) {
	case ".ini", ".cfg":
		return FormatINI
	case ".hcl":
		return FormatHCL
	}
	for line := range strings.Lines(string(src)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || strings.HasPrefix(line, "//") {
			continue
		}
		if line[0] == '[' {
			return FormatINI
		}
		break
	}
	if !bytes.ContainsRune(src, '{') {
		return FormatINI
	}
	return FormatHCL
}

func parse(src []byte, filename, baseDir string, opts LoadOptions) (*Inventory, hcl.Diagnostics) {
	format := opts.Format
	if format == "" {
		format = DetectFormat(filename, src)
	}
	b := newBuilder(filename, baseDir, opts)
	switch format {
	case FormatHCL:
		file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
		if file == nil || file.Body == nil {
			return b.inv, diags
		}
		b.inv.Files[filename] = file
		b.diags = append(b.diags, diags...)
		b.decodeFile(file.Body)
	case FormatINI:
		b.inv.Files[filename] = &hcl.File{Bytes: src}
		b.decodeINI(src, filename)
	default:
		return b.inv, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unknown inventory format",
			Detail:   fmt.Sprintf("Format %q is neither %q nor %q.", format, FormatHCL, FormatINI),
		}}
	}
	b.checkReferences()
	b.buildHosts()
	b.checkJumps()
	sortDiags(b.diags)
	return b.inv, b.diags
}

func newBuilder(filename, baseDir string, opts LoadOptions) *builder {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	return &builder{
		inv: &Inventory{Path: filename, Files: map[string]*hcl.File{}, byName: map[string]*Host{}},
		d: &decoder{
			ctx:     &hcl.EvalContext{Functions: lang.Functions(baseDir, getenv)},
			baseDir: baseDir,
			getenv:  getenv,
		},
		opts:       opts,
		groups:     map[string]*groupBlock{},
		hostBlocks: map[string]*hostBlock{},
	}
}

// sortDiags puts diagnostics in source order, whatever order the checks
// ran in.
func sortDiags(diags hcl.Diagnostics) {
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		switch {
		case a.Subject == nil || b.Subject == nil:
			return cmp.Compare(boolInt(a.Subject != nil), boolInt(b.Subject != nil))
		case a.Subject.Filename != b.Subject.Filename:
			return cmp.Compare(a.Subject.Filename, b.Subject.Filename)
		}
		return cmp.Compare(a.Subject.Start.Byte, b.Subject.Start.Byte)
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

type groupBlock struct {
	group *Group
	s     *settings
}

type hostBlock struct {
	host   *Host
	s      *settings
	merged *settings
}

// builder turns the file into an Inventory, collecting every diagnostic.
type builder struct {
	inv        *Inventory
	d          *decoder
	diags      hcl.Diagnostics
	seenDiags  map[string]bool
	defaults   *settings
	defRange   hcl.Range
	groups     map[string]*groupBlock
	hosts      []*hostBlock
	hostBlocks map[string]*hostBlock
	// blocks is every decoded settings block, in file order.
	blocks []*settings
	// badJumps tells that a jump entry was already reported.
	badJumps bool

	opts LoadOptions
	// sshConfigs caches parsed OpenSSH client configurations by path.
	sshConfigs map[string]*sshConfigFile
}

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "defaults"},
		{Type: "group", LabelNames: []string{"name"}},
		{Type: "host", LabelNames: []string{"name"}},
	},
}

// add appends diagnostics, dropping exact repeats: a setting inherited by
// many hosts would otherwise report the same mistake once per host.
func (b *builder) add(diags ...*hcl.Diagnostic) {
	if b.seenDiags == nil {
		b.seenDiags = map[string]bool{}
	}
	for _, d := range diags {
		key := d.Summary + "\x00" + d.Detail
		if d.Subject != nil {
			key += "\x00" + d.Subject.String()
		}
		if b.seenDiags[key] {
			continue
		}
		b.seenDiags[key] = true
		b.diags = append(b.diags, d)
	}
}

func (b *builder) decodeFile(body hcl.Body) {
	content, diags := body.Content(rootSchema)
	b.add(diags...)
	for _, block := range content.Blocks {
		switch block.Type {
		case "defaults":
			s, diags := b.d.decodeSettings(block.Body, kindDefaults)
			b.add(diags...)
			if b.defaults != nil {
				b.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate defaults block",
					Detail:   fmt.Sprintf("An inventory has at most one defaults block; the first is at %s.", posString(b.defRange)),
					Subject:  block.DefRange.Ptr(),
				})
				continue
			}
			b.defaults, b.defRange = s, block.DefRange
			b.blocks = append(b.blocks, s)
		case "group":
			name := block.Labels[0]
			s, diags := b.d.decodeSettings(block.Body, kindGroup)
			b.add(diags...)
			if !b.checkName("group", name, block) {
				continue
			}
			g := &Group{Name: name, DeclRange: block.DefRange}
			b.groups[name] = &groupBlock{group: g, s: s}
			b.inv.Groups = append(b.inv.Groups, g)
			b.blocks = append(b.blocks, s)
		case "host":
			name := block.Labels[0]
			s, diags := b.d.decodeSettings(block.Body, kindHost)
			b.add(diags...)
			if !b.checkName("host", name, block) {
				continue
			}
			hb := &hostBlock{host: &Host{Name: name, DeclRange: block.DefRange}, s: s}
			b.hosts = append(b.hosts, hb)
			b.hostBlocks[name] = hb
			b.blocks = append(b.blocks, s)
		}
	}
}

// checkName reports an invalid, reserved or already used name and tells
// whether the block may join the inventory.
func (b *builder) checkName(kind, name string, block *hcl.Block) bool {
	subject := block.LabelRanges[0].Ptr()
	if !validName(name) {
		b.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid %s name", kind),
			Detail:   fmt.Sprintf("%q is not a valid %s name: use letters, digits, '.', '_' and '-' only (it becomes a directory name), and not \".\" or \"..\".", name, kind),
			Subject:  subject,
		})
		return false
	}
	if name == "all" {
		b.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Reserved %s name", kind),
			Detail:   `"all" is reserved: in --limit it selects every host.`,
			Subject:  subject,
		})
		return false
	}
	var prev hcl.Range
	var prevKind string
	if hb, ok := b.hostBlocks[name]; ok {
		prev, prevKind = hb.host.DeclRange, "host"
	} else if gb, ok := b.groups[name]; ok {
		prev, prevKind = gb.group.DeclRange, "group"
	} else {
		return true
	}
	summary := fmt.Sprintf("Duplicate %s name", kind)
	detail := fmt.Sprintf("A %s named %q was already declared at %s.", kind, name, posString(prev))
	if prevKind != kind {
		summary = "Name used by a host and a group"
		detail = fmt.Sprintf("%q is already a %s (at %s); hosts and groups share one namespace so that --limit is never ambiguous.", name, prevKind, posString(prev))
	}
	b.add(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: subject})
	return false
}

// checkReferences checks the names each block refers to: a host's groups,
// and every jump entry, where it is written (so a mistake in defaults is
// reported once, not per host).
func (b *builder) checkReferences() {
	for _, hb := range b.hosts {
		f := hb.s.groups
		seen := map[string]bool{}
		for i, g := range f.val {
			switch {
			case seen[g]:
				b.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate group",
					Detail:   fmt.Sprintf("Group %q is listed twice.", g),
					Subject:  f.elems[i].Ptr(),
				})
			case b.groups[g] == nil:
				b.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Undeclared group",
					Detail:   fmt.Sprintf("Host %q lists group %q, but there is no group %q block.", hb.host.Name, g, g),
					Subject:  f.elems[i].Ptr(),
				})
			}
			seen[g] = true
		}
	}
	for _, s := range b.blocks {
		for i, j := range s.jump.val {
			if b.hostBlocks[j] != nil {
				continue
			}
			if !looksLikeAddress(j) {
				b.badJumps = true
				b.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Unknown jump host",
					Detail:   fmt.Sprintf("%q is not a host in this inventory. To jump through a machine outside it, write [user@]host[:port] with a fully qualified name or an IP address.", j),
					Subject:  s.jump.elems[i].Ptr(),
				})
				continue
			}
			if _, err := parseHop(j); err != nil {
				b.badJumps = true
				b.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid jump host",
					Detail:   fmt.Sprintf("%q is neither an inventory host nor [user@]host[:port]: %v.", j, err),
					Subject:  s.jump.elems[i].Ptr(),
				})
			}
		}
	}
}

func (b *builder) buildHosts() {
	var knownHosts string
	if kh, err := b.d.resolvePath(defaultKnownHosts); err == nil {
		knownHosts = kh
	}
	b.inv.defaultKnownHosts = knownHosts
	var localUser string
	var userErr error
	userDone := false
	for _, hb := range b.hosts {
		m := newSettings()
		if b.defaults != nil {
			m.apply(b.defaults)
		}
		for _, g := range hb.s.groups.val {
			if gb := b.groups[g]; gb != nil {
				m.apply(gb.s)
			}
		}
		m.apply(hb.s)
		hb.merged = m

		h := hb.host
		h.Address = cmp.Or(m.address.val, h.Name)
		// The OpenSSH client configuration fills what the inventory leaves
		// unset, looked up by the address as ssh looks up its argument.
		var sc sshEntry
		if cfg := b.sshConfigFor(m); cfg != nil {
			h.SSHConfig, h.sshCfg = cfg.path, cfg
			var err error
			if sc, err = cfg.entry(h.Address); err != nil {
				b.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid ssh_config entry",
					Detail:   fmt.Sprintf("Host %q (address %s) in %s: %v.", h.Name, quote(h.Address, m.address.secret), cfg.path, err),
					Subject:  h.DeclRange.Ptr(),
				})
			}
		}
		alias := h.Address
		h.Address = cmp.Or(sc.hostName, h.Address)
		h.Port = cmp.Or(m.port.val, sc.port, DefaultPort)
		h.User = m.user.val
		if !m.user.set && sc.user != "" {
			h.User = sc.user
		} else if !m.user.set {
			if !userDone {
				localUser, userErr = b.d.localUser()
				userDone = true
			}
			h.User = localUser
			if userErr != nil {
				b.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "No SSH user",
					Detail:   fmt.Sprintf("No user is set for host %q and the local user is unknown (%v); set user in defaults.", h.Name, userErr),
					Subject:  h.DeclRange.Ptr(),
				})
			}
		}
		h.IdentityFiles = slices.Clone(m.identityFiles.val)
		h.SSHAgent = !m.sshAgent.set || m.sshAgent.val
		h.Password = m.password.val
		h.KnownHosts = m.knownHosts.val
		h.HostKeys = slices.Clone(m.hostKeys.val)
		if h.sshCfg != nil {
			files, kh, err := h.sshCfg.paths(sc, alias, h.Address, h.User, h.Port)
			if err != nil {
				b.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid ssh_config entry",
					Detail:   fmt.Sprintf("Host %q in %s: %v.", h.Name, h.sshCfg.path, err),
					Subject:  h.DeclRange.Ptr(),
				})
			}
			if !m.identityFiles.set && len(files) > 0 {
				h.IdentityFiles = files
			}
			if !m.knownHosts.set && !m.hostKeys.set && kh != "" {
				h.KnownHosts = kh
			}
			if !m.sshAgent.set && sc.noAgent {
				h.SSHAgent = false
			}
		}
		if !m.knownHosts.set && !m.hostKeys.set && h.KnownHosts == "" {
			if knownHosts == "" {
				_, err := b.d.resolvePath(defaultKnownHosts)
				b.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "No known_hosts file",
					Detail:   fmt.Sprintf("Host %q sets neither known_hosts nor host_keys, and the default %s cannot be resolved: %v.", h.Name, defaultKnownHosts, err),
					Subject:  h.DeclRange.Ptr(),
				})
			}
			h.KnownHosts = knownHosts
		}
		h.Jump = slices.Clone(m.jump.val)
		h.jumpRanges = slices.Clone(m.jump.elems)
		if !m.jump.set && len(sc.proxyJump) > 0 {
			h.Jump = slices.Clone(sc.proxyJump)
			h.jumpRanges = nil
			for range h.Jump {
				h.jumpRanges = append(h.jumpRanges, h.DeclRange)
			}
		}
		h.ConnectTimeout = cmp.Or(m.connectTimeout.val, sc.connectTimeout, DefaultConnectTimeout)
		h.Groups = slices.Clone(hb.s.groups.val)
		h.Vars = m.vars
		if m.api != nil {
			h.API = m.api.build(h.Address)
			b.add(m.api.conflicts()...)
		}
		h.sensitive, h.fieldSecrets = m.secretFields()
		if h.API != nil && !m.api.url.set && h.sensitive["address"] {
			h.sensitive["api.url"] = true // made from the address
		}
		b.inv.Hosts = append(b.inv.Hosts, h)
		b.inv.byName[h.Name] = h
	}
}

// checkJumps reports jump cycles at the entry that closes them, then any
// chain that cannot be resolved.
func (b *builder) checkJumps() {
	const (
		unvisited = iota
		active
		done
	)
	state := map[*Host]int{}
	var stack []*Host
	cycles := false
	var visit func(h *Host)
	visit = func(h *Host) {
		state[h] = active
		stack = append(stack, h)
		for i, name := range h.Jump {
			next := b.inv.byName[name]
			if next == nil {
				continue
			}
			switch state[next] {
			case unvisited:
				visit(next)
			case active:
				cycles = true
				start := slices.Index(stack, next)
				var names []string
				for _, s := range stack[start:] {
					names = append(names, s.Name)
				}
				names = append(names, next.Name)
				b.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Jump cycle",
					Detail:   fmt.Sprintf("Jump hosts form a cycle: %s. Set jump = [] in a host block to cancel an inherited jump.", joinArrow(names)),
					Subject:  h.jumpRanges[i].Ptr(),
				})
			}
		}
		stack = stack[:len(stack)-1]
		state[h] = done
	}
	for _, h := range b.inv.Hosts {
		if state[h] == unvisited {
			visit(h)
		}
	}
	if cycles || b.badJumps {
		return
	}
	for _, hb := range b.hosts {
		if _, err := b.inv.JumpChain(hb.host); err != nil {
			b.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid jump chain",
				Detail:   err.Error() + ".",
				Subject:  jumpSubject(hb),
			})
		}
	}
}

// Host returns the host named name, or nil.
func (inv *Inventory) Host(name string) *Host {
	if inv.byName != nil {
		return inv.byName[name]
	}
	for _, h := range inv.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Secrets returns every secret string of the host, longest first so that a
// redactor replacing them in turn never leaves part of a longer one.
func (h *Host) Secrets() []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
		}
	}
	add(h.Password)
	if h.API != nil {
		add(h.API.Password)
	}
	for _, s := range h.fieldSecrets {
		add(s)
	}
	for _, v := range h.Vars {
		for _, s := range lang.SecretStrings(v) {
			add(s)
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), cmp.Compare(a, b))
	})
	return slices.Compact(out)
}

func posString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d,%d", r.Filename, r.Start.Line, r.Start.Column)
}

func joinArrow(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += " → "
		}
		out += n
	}
	return out
}

// jumpSubject is where a host's jump setting was written, or the host
// itself when its jump list comes from ssh_config's ProxyJump.
func jumpSubject(hb *hostBlock) *hcl.Range {
	if hb.merged.jump.set {
		return hb.merged.jump.rng.Ptr()
	}
	return hb.host.DeclRange.Ptr()
}
