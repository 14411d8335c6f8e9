package smc

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"
)

// TrustStorePath is where smc-api.md places the trust-store entries.
const TrustStorePath = "configurableElements.trustStore.trustedCertificates"

// TrustedCert is one entry of the trust store.
type TrustedCert struct {
	FriendlyName string
	PEM          string            // certificate.content as stored
	Cert         *x509.Certificate // nil when PEM does not parse
	SHA256       string            // lower-case hex of the DER; "" when PEM does not parse
	Index        int               // position in trustedCertificates
}

// TrustedCertificates lists the trust store of a configuration document.
// Entries whose certificate does not parse (or that are not even objects)
// are returned with Cert nil, never dropped: a caller that writes the
// array back must keep what it does not understand, and Index must match
// the document. A missing trust store is an error, since every Manager
// document has one (smc-api.md); an explicit null is an empty store.
func TrustedCertificates(doc map[string]any) ([]TrustedCert, error) {
	raw, ok := GetPath(doc, TrustStorePath)
	if !ok {
		return nil, fmt.Errorf("the configuration document has no %s", TrustStorePath)
	}
	if raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%s is %s, not an array", TrustStorePath, kindOf(raw))
	}
	out := make([]TrustedCert, 0, len(list))
	for i, e := range list {
		tc := TrustedCert{Index: i}
		if m, ok := e.(map[string]any); ok {
			tc.FriendlyName, _ = m["friendlyName"].(string)
			if cert, ok := m["certificate"].(map[string]any); ok {
				tc.PEM, _ = cert["content"].(string)
			}
		}
		tc.Cert = parsePEMCertificate(tc.PEM)
		if tc.Cert != nil {
			sum := sha256.Sum256(tc.Cert.Raw)
			tc.SHA256 = hex.EncodeToString(sum[:])
		}
		out = append(out, tc)
	}
	return out, nil
}

// parsePEMCertificate returns the first CERTIFICATE block of text, parsed.
func parsePEMCertificate(text string) *x509.Certificate {
	rest := []byte(text)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil
		}
		return c
	}
}

// GetPath returns the value at a dotted path ("a.b.c"). A numeric segment
// indexes an array. Keys that contain a dot cannot be addressed. The empty
// path is the document itself.
func GetPath(doc map[string]any, path string) (any, bool) {
	if path == "" {
		return doc, true
	}
	var cur any = doc
	for _, seg := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[seg]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// SetPath sets the value at a dotted path. With createMissing, absent
// objects on the way are created; without it, a missing key anywhere
// (the last one included) is an error: smc-api.md asks that unverified
// keys be reported as absent, not invented. An array element can be
// replaced but not appended.
func SetPath(doc map[string]any, path string, v any, createMissing bool) error {
	if doc == nil {
		return fmt.Errorf("set %s: nil document", path)
	}
	if path == "" {
		return fmt.Errorf("set: empty path")
	}
	segs := strings.Split(path, ".")
	var cur any = doc
	for n, seg := range segs {
		last := n == len(segs)-1
		at := strings.Join(segs[:n+1], ".")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[seg]
			if !ok && !createMissing {
				return fmt.Errorf("set %s: %s is not in the document", path, at)
			}
			if last {
				c[seg] = v
				return nil
			}
			if !ok || next == nil {
				if !createMissing {
					return fmt.Errorf("set %s: %s is null", path, at)
				}
				next = map[string]any{}
				c[seg] = next
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return fmt.Errorf("set %s: %s: no element %q in an array of %d", path, at, seg, len(c))
			}
			if last {
				c[i] = v
				return nil
			}
			cur = c[i]
		default:
			return fmt.Errorf("set %s: %s is %s, not an object", path, strings.Join(segs[:n], "."), kindOf(cur))
		}
	}
	return nil // unreachable: the last segment returns inside the loop
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}
