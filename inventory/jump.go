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
// no password, which belong to h.
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
			chain = append(chain, inv.stringHop(h, i, name, p))
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

func (inv *Inventory) stringHop(h *Host, i int, name string, p hop) *Host {
	knownHosts := h.KnownHosts
	if knownHosts == "" {
		// h trusts only its pinned keys, which are not the hop's.
		knownHosts = inv.defaultKnownHosts
	}
	decl := h.DeclRange
	if i < len(h.jumpRanges) {
		decl = h.jumpRanges[i]
	}
	hopHost := &Host{
		Name:           name,
		Address:        p.host,
		Port:           cmp.Or(p.port, DefaultPort),
		User:           cmp.Or(p.user, h.User),
		IdentityFiles:  slices.Clone(h.IdentityFiles),
		SSHAgent:       h.SSHAgent,
		KnownHosts:     knownHosts,
		HostKeys:       []string{},
		ConnectTimeout: h.ConnectTimeout,
		Groups:         []string{},
		Vars:           map[string]cty.Value{},
		DeclRange:      decl,
		sensitive:      map[string]bool{},
		// More than the hop needs, but redacting too much is harmless.
		fieldSecrets: slices.Clone(h.fieldSecrets),
	}
	for k, v := range h.sensitive {
		if k == "user" && p.user != "" {
			continue
		}
		if k == "user" || k == "known_hosts" || strings.HasPrefix(k, "identity_files[") {
			hopHost.sensitive[k] = v
		}
	}
	return hopHost
}

func hostNames(hosts []*Host) []string {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	return names
}
