package inventory

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Select returns the hosts a --limit expression picks, in inventory order.
// limit is a comma-separated list of patterns: "all", a host name, a group
// name (all its hosts), or a path.Match glob over host and group names
// ("smc-*", "smc-0[1-3]"). A pattern prefixed with "!" excludes what it
// matches. An empty limit, or one with only exclusions, starts from every
// host. A pattern that matches nothing is an error, exclusions included: a
// mistyped exclusion would otherwise run on the very host it meant to spare.
func (inv *Inventory) Select(limit string) ([]*Host, error) {
	include := map[*Host]bool{}
	exclude := map[*Host]bool{}
	positive := false
	for _, raw := range strings.Split(limit, ",") {
		pattern := strings.TrimSpace(raw)
		if pattern == "" {
			continue
		}
		negate := strings.HasPrefix(pattern, "!")
		if negate {
			pattern = strings.TrimSpace(pattern[1:])
			if pattern == "" {
				return nil, fmt.Errorf("--limit: %q: '!' needs a pattern after it", raw)
			}
		}
		matched, err := inv.match(pattern)
		if err != nil {
			return nil, err
		}
		if len(matched) == 0 {
			return nil, fmt.Errorf("--limit: %q matches no host or group", pattern)
		}
		target := include
		if negate {
			target = exclude
		} else {
			positive = true
		}
		for _, h := range matched {
			target[h] = true
		}
	}
	var out []*Host
	for _, h := range inv.Hosts {
		if (include[h] || !positive) && !exclude[h] {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--limit %q selects no host", limit)
	}
	return out, nil
}

func (inv *Inventory) match(pattern string) ([]*Host, error) {
	if pattern == "all" {
		return inv.Hosts, nil
	}
	isGlob := strings.ContainsAny(pattern, `*?[\`)
	if isGlob {
		if _, err := path.Match(pattern, ""); err != nil {
			return nil, fmt.Errorf("--limit: bad pattern %q: %w", pattern, err)
		}
	}
	matches := func(name string) bool {
		if !isGlob {
			return name == pattern
		}
		ok, _ := path.Match(pattern, name)
		return ok
	}
	groups := map[string]bool{}
	for _, g := range inv.Groups {
		if matches(g.Name) {
			groups[g.Name] = true
		}
	}
	var out []*Host
	for _, h := range inv.Hosts {
		if matches(h.Name) || slices.ContainsFunc(h.Groups, func(g string) bool { return groups[g] }) {
			out = append(out, h)
		}
	}
	return out, nil
}
