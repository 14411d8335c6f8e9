package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/kevinburke/ssh_config"
)

const defaultSSHConfig = "~/.ssh/config"

// sshConfigFile is a parsed OpenSSH client configuration.
type sshConfigFile struct {
	path      string
	cfg       *ssh_config.Config
	home      string
	localUser string
}

// sshEntry is what an ssh_config says about one alias. Zero values are
// "not said". hostName has its tokens expanded; identity files and the
// known_hosts file are raw, as they may name the final user and port.
type sshEntry struct {
	hostName       string
	port           int
	user           string
	identityFiles  []string
	knownHosts     string
	proxyJump      []string
	connectTimeout time.Duration
	noAgent        bool
}

// resolveSSHConfigPath turns an ssh_config setting into a path: "" and
// "none" mean none (""); others expand ~/ and are relative to the
// inventory's directory.
func (d *decoder) resolveSSHConfigPath(p *string) error {
	if *p == "" || *p == "none" {
		*p = ""
		return nil
	}
	r, err := d.resolvePath(*p)
	if err != nil {
		return err
	}
	*p = r
	return nil
}

// sshConfigFor returns the ssh_config consulted for a host with merged
// settings m, or nil. A missing ~/.ssh/config is no configuration, and one
// that cannot be parsed a warning; a file named explicitly (ssh_config,
// LoadOptions.SSHConfig, $SMCFLEET_SSH_CONFIG) must exist and parse.
func (b *builder) sshConfigFor(m *settings) *sshConfigFile {
	var path string
	var subject *hcl.Range
	explicit := true
	switch {
	case m.sshConfig.set:
		path, subject = m.sshConfig.val, m.sshConfig.rng.Ptr()
	case b.opts.SSHConfig != "":
		path = b.opts.SSHConfig
		if path == "none" {
			return nil
		}
		path = b.absPath(path)
	default:
		if p, ok := b.d.getenv(SSHConfigEnv); ok {
			if p == "" || p == "none" {
				return nil
			}
			path = b.absPath(p)
		} else {
			explicit = false
			p, err := b.d.resolvePath(defaultSSHConfig)
			if err != nil {
				return nil
			}
			path = p
		}
	}
	if path == "" {
		return nil
	}
	if b.sshConfigs == nil {
		b.sshConfigs = map[string]*sshConfigFile{}
	}
	if c, ok := b.sshConfigs[path]; ok {
		return c
	}
	c, err := b.loadSSHConfig(path)
	switch {
	case err == nil:
	case !explicit && errors.Is(err, fs.ErrNotExist):
	case !explicit:
		b.add(&hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "ssh_config ignored",
			Detail:   fmt.Sprintf("%v. Hosts are reached with the inventory's settings alone; set ssh_config in the inventory (or %s) to choose another file, or \"\" to use none.", err, SSHConfigEnv),
		})
	default:
		where := ""
		if subject == nil {
			where = fmt.Sprintf(" (from %s)", cmpOr(b.opts.SSHConfig != "", "the load options", "$"+SSHConfigEnv))
		}
		b.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot use ssh_config",
			Detail:   fmt.Sprintf("%v%s. Set ssh_config = \"\" to use none.", err, where),
			Subject:  subject,
		})
	}
	b.sshConfigs[path] = c
	return c
}

func cmpOr(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// absPath resolves a path given outside the inventory: ~/ is expanded and
// a relative path is taken from the current directory.
func (b *builder) absPath(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := b.d.homeDir(); err == nil {
			p = filepath.Join(home, p[1:])
		}
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

func (b *builder) loadSSHConfig(path string) (c *sshConfigFile, err error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ssh_config: %w", err)
	}
	defer func() {
		// The parser panics on some input; never let it take Load down.
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("ssh_config %s: %v", path, r)
		}
	}()
	cfg, err := ssh_config.DecodeBytes(src)
	if err != nil {
		return nil, fmt.Errorf("ssh_config %s: %s", path, strings.TrimSpace(err.Error()))
	}
	c = &sshConfigFile{path: path, cfg: cfg}
	c.home, _ = b.d.homeDir()
	c.localUser, _ = b.d.localUser()
	return c, nil
}

func (c *sshConfigFile) get(alias, key string) (v string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", key, r)
		}
	}()
	return c.cfg.Get(alias, key)
}

func (c *sshConfigFile) getAll(alias, key string) (v []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", key, r)
		}
	}()
	return c.cfg.GetAll(alias, key)
}

// entry looks alias up as ssh(1) looks up its destination: the first
// value of each keyword, in file order, from the Host blocks that match.
func (c *sshConfigFile) entry(alias string) (sshEntry, error) {
	var e sshEntry
	if c == nil {
		return e, nil
	}
	var errs []error
	get := func(key string) string {
		v, err := c.get(alias, key)
		if err != nil {
			errs = append(errs, err)
		}
		return strings.TrimSpace(v)
	}
	if v := get("HostName"); v != "" {
		hn, err := expandTokens(v, map[byte]string{'h': alias, 'n': alias})
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("HostName %q: %v", v, err))
		case checkAddress(hn) != nil:
			errs = append(errs, fmt.Errorf("HostName %q: %v", hn, checkAddress(hn)))
		default:
			e.hostName = hn
		}
	}
	if v := get("Port"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			errs = append(errs, fmt.Errorf("the Port setting %q is not a port number", v))
		} else {
			e.port = n
		}
	}
	if v := get("User"); v != "" {
		u, err := expandTokens(v, map[byte]string{'u': c.localUser, '%': "%"})
		if err != nil || strings.ContainsAny(u, "@: \t") {
			errs = append(errs, fmt.Errorf("the User setting %q is not a user name", v))
		} else {
			e.user = u
		}
	}
	files, err := c.getAll(alias, "IdentityFile")
	if err != nil {
		errs = append(errs, err)
	}
	for _, f := range files {
		if f = strings.TrimSpace(f); f != "" && !strings.EqualFold(f, "none") {
			e.identityFiles = append(e.identityFiles, f)
		}
	}
	if v := get("UserKnownHostsFile"); v != "" {
		if first := strings.Fields(v)[0]; !strings.EqualFold(first, "none") {
			e.knownHosts = first
		}
	}
	if v := get("ProxyJump"); v != "" && !strings.EqualFold(v, "none") {
		for _, hop := range strings.Split(v, ",") {
			hop = strings.TrimPrefix(strings.TrimSpace(hop), "ssh://")
			if hop == "" {
				errs = append(errs, fmt.Errorf("ProxyJump %q has an empty hop", v))
				continue
			}
			e.proxyJump = append(e.proxyJump, hop)
		}
	}
	if v := get("ConnectTimeout"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("ConnectTimeout %q is not a number of seconds", v))
		} else {
			e.connectTimeout = time.Duration(n) * time.Second
		}
	}
	if v := get("IdentityAgent"); strings.EqualFold(v, "none") {
		e.noAgent = true
	}
	return e, errors.Join(errs...)
}

// paths expands the identity files and the known_hosts file of e for the
// final destination: tokens (%d %h %n %p %r %u %%), then ~/; a relative
// path is taken from the current directory, as ssh(1) does.
func (c *sshConfigFile) paths(e sshEntry, alias, hostName, user string, port int) (files []string, knownHosts string, err error) {
	tokens := map[byte]string{
		'd': c.home, 'h': hostName, 'n': alias, 'p': strconv.Itoa(port),
		'r': user, 'u': c.localUser,
	}
	expand := func(p string) (string, error) {
		p, err := expandTokens(p, tokens)
		if err != nil {
			return "", err
		}
		if p == "~" || strings.HasPrefix(p, "~/") {
			if c.home == "" {
				return "", errors.New("cannot expand ~: no home directory")
			}
			p = filepath.Join(c.home, p[1:])
		}
		return filepath.Abs(p)
	}
	var errs []error
	for _, f := range e.identityFiles {
		p, err := expand(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("IdentityFile %q: %v", f, err))
			continue
		}
		files = append(files, p)
	}
	if e.knownHosts != "" {
		p, err := expand(e.knownHosts)
		if err != nil {
			errs = append(errs, fmt.Errorf("UserKnownHostsFile %q: %v", e.knownHosts, err))
		} else {
			knownHosts = p
		}
	}
	return files, knownHosts, errors.Join(errs...)
}

// expandTokens replaces ssh_config's %-tokens; "%%" is always '%'.
func expandTokens(s string, tokens map[byte]string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			out.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", errors.New("a '%' ends the value")
		}
		i++
		if s[i] == '%' {
			out.WriteByte('%')
			continue
		}
		v, ok := tokens[s[i]]
		if !ok {
			return "", fmt.Errorf("token %%%c is not supported here", s[i])
		}
		out.WriteString(v)
	}
	return out.String(), nil
}
