package certs

import (
	"crypto/x509"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// NamePattern is what the Manager's trust store accepts as a friendly name
// (see smc-api.md). Every name this package produces matches it.
var NamePattern = regexp.MustCompile("^[a-zA-Z0-9._-]+$")

// MaxNameLen bounds a friendly name, suffix included.
const MaxNameLen = 64

// suffixLen is the number of SHA-256 hex digits appended on a name clash.
const suffixLen = 8

// specialFold maps letters that Unicode does not decompose into a base
// letter plus a combining mark, so NFKD + mark removal alone would turn them
// into "-" ("Główny" would become "G-owny").
var specialFold = strings.NewReplacer(
	"ł", "l", "Ł", "L",
	"ø", "o", "Ø", "O",
	"ß", "ss", "ẞ", "SS",
	"æ", "ae", "Æ", "AE",
	"œ", "oe", "Œ", "OE",
	"đ", "d", "Đ", "D",
	"ð", "d", "Ð", "D",
	"þ", "th", "Þ", "TH",
	"ı", "i", "ħ", "h", "Ħ", "H",
)

// FriendlyName is the trust-store name of cert before de-duplication: the
// subject CN, else O, else OU, else "serial-<HEX>", sanitised (see
// sanitizeName) and at most MaxNameLen long. A wildcard CN "*.example.com"
// becomes "wildcard.example.com". An attribute that sanitises to nothing
// (e.g. a CN entirely in a script that has no ASCII folding) falls through
// to the next one rather than yielding a meaningless "cert".
func FriendlyName(cert *x509.Certificate) string {
	if cert == nil {
		return "cert"
	}
	var cands []string
	cands = append(cands, cert.Subject.CommonName)
	cands = append(cands, cert.Subject.Organization...)
	cands = append(cands, cert.Subject.OrganizationalUnit...)
	for _, c := range cands {
		if n := sanitizeName(c); n != "" {
			return n
		}
	}
	if s := serialHex(cert); s != "" {
		if n := sanitizeName("serial-" + s); n != "" {
			return n
		}
	}
	return "cert"
}

// sanitizeName turns an X.509 attribute into a name matching NamePattern,
// or "" when nothing usable is left:
//
//   - "*.example.com" → "wildcard.example.com" (a leading "-" would be
//     trimmed and the name would lose the fact that it is a wildcard);
//   - non-ASCII letters are folded to ASCII where possible (NFKD, combining
//     marks removed, plus specialFold for ł, ø, ß, æ, ...);
//   - spaces are deleted, not replaced: the procedure's awk does
//     gsub(/ /,x), so users already hold "AmazonRootCA1" in their trust
//     stores and the same certificate must get the same name here;
//   - every other disallowed character becomes "-", runs of "-" collapse;
//   - "-", "." and "_" are trimmed at both ends (no hidden file, nothing
//     that looks like a command-line option);
//   - the result is cut to MaxNameLen.
func sanitizeName(s string) string {
	if strings.HasPrefix(s, "*.") {
		s = "wildcard." + s[2:]
	}
	s = specialFold.Replace(s)
	// NFKD also maps compatibility forms (full-width letters, ligatures,
	// NBSP) to their plain equivalents.
	t := transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)))
	if folded, _, err := transform.String(t, s); err == nil {
		s = folded
	}
	var b strings.Builder
	lastDash := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			continue
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_'):
			b.WriteRune(r)
			lastDash = false
		default: // '-' itself and every disallowed character
			if !lastDash {
				b.WriteByte('-')
			}
			lastDash = true
		}
	}
	return trimName(b.String(), MaxNameLen)
}

// trimName cuts n to max bytes (n is ASCII here) and trims "-._" at both
// ends, so that a cut never leaves a dangling separator.
func trimName(n string, max int) string {
	n = strings.Trim(n, "-._")
	if len(n) > max {
		n = strings.Trim(n[:max], "-._")
	}
	return n
}

// assignNames sets Cert.Name for every cert: FriendlyName, and when several
// certificates share a name, EVERY one of them gets "-" plus the first 8 hex
// digits of its SHA-256. A fingerprint rather than a counter keeps a
// certificate's name the same whatever order the server sends the chain in,
// so re-running the collection never renames what is already in a trust
// store. Names compare case-insensitively: the files are copied to
// workstations whose file systems often fold case.
func assignNames(cs []Cert) {
	base := make([]string, len(cs))
	for i := range cs {
		base[i] = FriendlyName(cs[i].Cert)
	}
	names := append([]string(nil), base...)
	clashing := func() map[string]int {
		count := map[string]int{}
		for _, n := range names {
			count[strings.ToLower(n)]++
		}
		return count
	}
	// Longer suffixes only if two clashing certificates share the first 8
	// digits of their fingerprints, or a suffixed name meets another
	// certificate's plain name; practically never, but names must be unique.
	for _, sl := range []int{suffixLen, 16, 32} {
		count := clashing()
		changed := false
		for i := range cs {
			if count[strings.ToLower(names[i])] < 2 {
				continue
			}
			fp := cs[i].SHA256
			if len(fp) > sl {
				fp = fp[:sl]
			}
			names[i] = trimName(base[i], MaxNameLen-1-len(fp)) + "-" + fp
			changed = true
		}
		if !changed {
			break
		}
	}
	for i := range cs {
		cs[i].Name = names[i]
	}
}
