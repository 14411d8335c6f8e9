// Package redact removes secret strings from text before it is printed,
// logged or written to a report. It is the last line of defence: values
// marked sensitive are already hidden where they are rendered, and this
// catches secrets that leak through command output or error messages.
package redact

import (
	"sort"
	"strings"
	"sync"
)

// Mask replaces every secret.
const Mask = "(sensitive)"

// MinLen is the shortest secret that is replaced in free text. Replacing
// one- or two-character strings everywhere would garble all output while
// protecting nothing: such a secret is guessable anyway.
const MinLen = 3

// Redactor replaces known secrets in text. The zero value redacts nothing;
// it is safe for concurrent use.
type Redactor struct {
	mu       sync.RWMutex
	secrets  map[string]bool
	replacer *strings.Replacer
}

// New returns a Redactor for secrets.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add registers more secrets.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets == nil {
		r.secrets = map[string]bool{}
	}
	added := false
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) < MinLen || r.secrets[s] {
			continue
		}
		r.secrets[s] = true
		added = true
		// A multi-line secret (a key file) may be printed line by line.
		for _, line := range strings.Split(s, "\n") {
			if line = strings.TrimSpace(line); len(line) >= 8 && !r.secrets[line] {
				r.secrets[line] = true
			}
		}
	}
	if !added {
		return
	}
	list := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		list = append(list, s)
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(list, func(i, j int) bool {
		if len(list[i]) != len(list[j]) {
			return len(list[i]) > len(list[j])
		}
		return list[i] < list[j]
	})
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, Mask)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// String returns s with every secret replaced by Mask.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// Strings redacts each element.
func (r *Redactor) Strings(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = r.String(s)
	}
	return out
}
