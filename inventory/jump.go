package inventory

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// JumpChain resolves h.Jump into the hosts to connect through, first hop
// first. The first hop is reached through its own jump setting (its chain
// comes first); later hops are reached through the hop before them, so
// their own jump settings do not apply. A "[user@]host[:port]" entry
// becomes a Host named as written, with its own address, port (22 unless
// given) and user (h's unless given), and h's identity files, agent use,
// known_hosts and connect timeout; it trusts no pinned host keys and gets
// no password, which belong to h. When h has an ssh_config, the entry's
// host is looked up there first (HostName, Port, User, IdentityFile,
// UserKnownHostsFile, ConnectTimeout), and the first hop's ProxyJump
// comes before it in the chain.
func (inv *Inventory) JumpChain(h *Host) ([]*Host, error) {
	chain, err := inv.jumpChain(h, []string{h.Name})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{h.Name: true}
	for _, hop := range chain {
		if seen[hop.Name] {
			return nil, fmt.Errorf("the jump chain of %s, %s, passes %s twice", h.Name, joinArrow(hostNames(append(chain, h))), hop.Name)
		}
		seen[hop.Name] = true
	}
	return chain, nil
}

func (inv *Inventory) jumpChain(h *Host, path []string) ([]*Host, error) {
	var chain []*Host
	for i, name := range h.Jump {
		next := inv.Host(name)
		if next == nil {
			p, err := parseHop(name)
			if err != nil {
				return nil, fmt.Errorf("jump %q of %s: %w", name, h.Name, err)
			}
			if slices.Contains(path, name) {
				return nil, fmt.Errorf("jump cycle: %s", joinArrow(append(slices.Clone(path), name)))
			}
			hop, err := inv.stringHop(h, i, name, p)
			if err != nil {
				return nil, err
			}
			if i == 0 && len(hop.Jump) > 0 {
				// ssh_config's ProxyJump for the first hop, as ssh -J does.
				sub, err := inv.jumpChain(hop, append(slices.Clone(path), name))
				if err != nil {
					return nil, err
				}
				chain = append(chain, sub...)
			}
			chain = append(chain, hop)
			continue
		}
		if slices.Contains(path, next.Name) {
			return nil, fmt.Errorf("jump cycle: %s", joinArrow(append(slices.Clone(path), next.Name)))
		}
		if i == 0 {
			sub, err := inv.jumpChain(next, append(slices.Clone(path), next.Name))
			if err != nil {
				return nil, err
			}
			chain = append(chain, sub...)
		}
		chain = append(chain, next)
	}
	return chain, nil
}

func (inv *Inventory) stringHop(h *Host, i int, name string, p hop) (*Host, error) {
	knownHosts := h.KnownHosts
	if knownHosts == "" {
		// h trusts only its pinned keys, which are not the hop's.
		knownHosts = inv.defaultKnownHosts
	}
	decl := h.DeclRange
	if i < len(h.jumpRanges) {
		decl = h.jumpRanges[i]
	}
	// The hop's own ssh_config entry, as ssh(1) would read it for -J.
	e, err := h.sshCfg.entry(p.host)
	if err != nil {
		return nil, fmt.Errorf("jump %q of %s: %s: %w", name, h.Name, h.sshCfg.path, err)
	}
	address := cmp.Or(e.hostName, p.host)
	port := cmp.Or(p.port, e.port, DefaultPort)
	user := cmp.Or(p.user, e.user, h.User)
	identityFiles := slices.Clone(h.IdentityFiles)
	sshAgent := h.SSHAgent
	if h.sshCfg != nil {
		files, kh, err := h.sshCfg.paths(e, p.host, address, user, port)
		if err != nil {
			return nil, fmt.Errorf("jump %q of %s: %s: %w", name, h.Name, h.sshCfg.path, err)
		}
		if len(files) > 0 {
			identityFiles = files
		}
		if kh != "" {
			knownHosts = kh
		}
		if e.noAgent {
			sshAgent = false
		}
	}
	hopHost := &Host{
		Name:           name,
		Address:        address,
		Port:           port,
		User:           user,
		IdentityFiles:  identityFiles,
		SSHAgent:       sshAgent,
		KnownHosts:     knownHosts,
		HostKeys:       []string{},
		Jump:           e.proxyJump,
		ConnectTimeout: cmp.Or(e.connectTimeout, h.ConnectTimeout),
		Groups:         []string{},
		Vars:           map[string]cty.Value{},
		DeclRange:      decl,
		SSHConfig:      h.SSHConfig,
		sshCfg:         h.sshCfg,
		sensitive:      map[string]bool{},
		// More than the hop needs, but redacting too much is harmless.
		fieldSecrets: slices.Clone(h.fieldSecrets),
	}
	for range hopHost.Jump {
		hopHost.jumpRanges = append(hopHost.jumpRanges, decl)
	}
	for k, v := range h.sensitive {
		if k == "user" && (p.user != "" || e.user != "") {
			continue
		}
		if k == "user" || k == "known_hosts" || strings.HasPrefix(k, "identity_files[") {
			hopHost.sensitive[k] = v
		}
	}
	return hopHost, nil
}

func hostNames(hosts []*Host) []string {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	return names
}
