// Package certs parses, orders, verifies and names the TLS certificate
// chain an SMTP endpoint (Amazon SES) presents, for the SNA Manager's trust
// store.
//
// It replaces the procedure's copy-paste pipeline (openssl s_client
// -showcerts | awk | cp), which loses certificates with the same CN, names a
// CN-less subject ".pem", produces names the trust store rejects, and never
// checks that the chain verifies or when it expires. See
// shared/docs/procedure.md, section 3 and "What the copy-paste commands get
// wrong".
//
// Nothing here requires the chain to anchor in the system roots: the point
// is to learn what the Manager must trust, so Verify checks the chain's
// internal consistency and only checks anchoring when given a pool.
package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"time"
)

// Role is a certificate's place in a chain.
type Role string

// Roles.
const (
	RoleLeaf         Role = "leaf"
	RoleIntermediate Role = "intermediate"
	RoleRoot         Role = "root"
	// RoleCrossSigned is a certificate with the same subject and public key
	// as a root or intermediate of the chain but a different issuer: AWS
	// serves "Amazon Root CA 1" cross-signed by "Starfield Services Root
	// Certificate Authority - G2" so that old trust stores still anchor it.
	RoleCrossSigned Role = "cross-signed-root"
)

// Cert is one certificate of a Chain with what a report or a trust store
// needs, precomputed.
type Cert struct {
	Cert *x509.Certificate
	Role Role
	// Name is the trust-store friendly name: matches NamePattern, unique in
	// the chain (case-insensitively) and stable between runs.
	Name string
	// Subject and Issuer in RFC 2253 order, e.g.
	// "CN=Amazon RSA 2048 M02,O=Amazon,C=US".
	Subject, Issuer string
	// Serial is upper-case hex without colons.
	Serial              string
	NotBefore, NotAfter time.Time
	// SHA256 is the lower-case hex SHA-256 of the DER.
	SHA256 string
	// PEM is this certificate alone, ending with a newline.
	PEM []byte
}

// Chain is a set of certificates arranged by Order.
type Chain struct {
	// Certs is ordered: leaf, intermediates (the leaf's issuer first),
	// roots, cross-signed roots, then any certificate not on the chain.
	Certs []Cert
	// Problems found while ordering (no leaf, certificates that do not
	// chain). Signature, name and expiry checks are Verify's.
	Problems []string

	// placed is how many of Certs are on the chain (the rest were appended
	// as unrelated); 0 in a hand-built Chain means all.
	placed int
}

// Fingerprint returns the lower-case hex SHA-256 of cert's DER.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// FormatFingerprint renders a hex fingerprint (as returned by Fingerprint
// or held in Cert.SHA256) in the colon-separated upper-case form that
// browsers, keytool and the Manager's UI display: "AB:CD:...".
func FormatFingerprint(fp string) string {
	fp = strings.ToUpper(strings.ReplaceAll(fp, ":", ""))
	var b strings.Builder
	for i := 0; i < len(fp); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(fp[i:min(i+2, len(fp))])
	}
	return b.String()
}

// newCert fills everything but Role and Name.
func newCert(c *x509.Certificate) Cert {
	return Cert{
		Cert:      c,
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		Serial:    serialHex(c),
		NotBefore: c.NotBefore,
		NotAfter:  c.NotAfter,
		SHA256:    Fingerprint(c),
		PEM:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}),
	}
}

func serialHex(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return ""
	}
	return strings.ToUpper(c.SerialNumber.Text(16))
}

// label is how messages name a certificate: its CN as people know it
// ("Amazon RSA 2048 M02"), else O, else OU, else the serial.
func label(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if len(c.Subject.Organization) > 0 && c.Subject.Organization[0] != "" {
		return c.Subject.Organization[0]
	}
	if len(c.Subject.OrganizationalUnit) > 0 && c.Subject.OrganizationalUnit[0] != "" {
		return c.Subject.OrganizationalUnit[0]
	}
	return "serial " + serialHex(c)
}

// labels returns label for each cert, with the friendly name added where
// the label alone is ambiguous ("Amazon Root CA 1 (AmazonRootCA1-1a2b3c4d)"),
// so that a message always says which certificate it is about.
func (c Chain) labels() []string {
	count := map[string]int{}
	out := make([]string, len(c.Certs))
	for i, cc := range c.Certs {
		out[i] = label(cc.Cert)
		count[out[i]]++
	}
	for i, cc := range c.Certs {
		if count[out[i]] > 1 && cc.Name != "" {
			out[i] += " (" + cc.Name + ")"
		}
	}
	return out
}
