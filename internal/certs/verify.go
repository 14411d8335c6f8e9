package certs

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"math"
	"sort"
	"time"
)

// Verify checks the chain as the Manager's TLS client will see it, without
// requiring it to anchor in the system roots (the point is to learn what
// the trust store must hold):
//
//   - every certificate's signature verifies with its issuer's key when the
//     issuer is in the chain (the next certificate on the path first, then
//     any with the issuer's name: a cross-signed twin has the same key), and
//     self-signed ones verify with their own key;
//   - the leaf's issuer is in the chain (a lone leaf is an incomplete
//     capture); the top of the path need not be self-signed: AWS's top is
//     "Starfield Services Root Certificate Authority - G2" cross-signed by
//     a Starfield root it does not send, and any certificate in a trust
//     store can anchor a path;
//   - the leaf's names match host (VerifyHostname), unless host is empty;
//   - no certificate is expired, or not yet valid, at now;
//   - certificates Order appended as not on the chain are not checked
//     (Chain.Problems already names them);
//   - when roots is not nil, some certificate of the chain is in roots or
//     is signed by a certificate in roots.
//
// It returns one message per problem, naming the certificate; empty means
// verified. Chain.Problems (from Order) are not repeated here.
func (c Chain) Verify(host string, now time.Time, roots *x509.CertPool) []string {
	if len(c.Certs) == 0 {
		return []string{"no certificates"}
	}
	for i, cc := range c.Certs {
		if cc.Cert == nil {
			return []string{fmt.Sprintf("certificate %d of the chain is missing (nil)", i)}
		}
	}
	var problems []string
	labels := c.labels()
	host = hostOnly(host)
	placed := c.placedCount()

	if c.Certs[0].Role != RoleLeaf {
		problems = append(problems, "no leaf certificate")
	} else if host != "" {
		if err := c.Certs[0].Cert.VerifyHostname(host); err != nil {
			problems = append(problems, fmt.Sprintf("%s: does not match host %s: %v", labels[0], host, err))
		}
	}

	// Certificates Order appended as unrelated are left out: Order already
	// reported them, and they are not on any path the Manager will build.
	for i, cc := range c.Certs[:placed] {
		cert := cc.Cert
		if bytes.Equal(cert.RawSubject, cert.RawIssuer) {
			if err := checkSelfSignature(cert); err != nil {
				problems = append(problems, fmt.Sprintf("%s: self-signature does not verify: %v", labels[i], err))
			}
			continue
		}
		cands := c.issuerCandidates(i)
		if len(cands) == 0 {
			if cc.Role == RoleLeaf {
				problems = append(problems, fmt.Sprintf("%s: issuer %s is not in the chain", labels[i], cert.Issuer))
			}
			continue
		}
		var firstErr error
		firstBy := -1
		for _, j := range cands {
			err := cert.CheckSignatureFrom(c.Certs[j].Cert)
			if err == nil {
				firstErr, firstBy = nil, -1
				break
			}
			if firstBy < 0 {
				firstErr, firstBy = err, j
			}
		}
		if firstBy >= 0 {
			problems = append(problems, fmt.Sprintf("%s: signature by %s does not verify: %v", labels[i], labels[firstBy], firstErr))
		}
	}

	for i, cc := range c.Certs[:placed] {
		switch {
		case now.After(cc.NotAfter):
			problems = append(problems, fmt.Sprintf("%s: expired on %s", labels[i], stamp(cc.NotAfter)))
		case now.Before(cc.NotBefore):
			problems = append(problems, fmt.Sprintf("%s: not valid before %s", labels[i], stamp(cc.NotBefore)))
		}
	}

	if roots != nil && !c.anchored(roots, now, placed) {
		top := c.pathTop(placed)
		problems = append(problems, fmt.Sprintf("chain does not anchor in the given roots: no certificate of it is trusted or issued by a trusted root (top: %s, issued by %s)", labels[top], c.Certs[top].Issuer))
	}
	return problems
}

// issuerCandidates lists the certificates named as i's issuer, the next one
// in the chain first (the path order Order produced).
func (c Chain) issuerCandidates(i int) []int {
	var out []int
	want := c.Certs[i].Cert.RawIssuer
	if i+1 < len(c.Certs) && bytes.Equal(c.Certs[i+1].Cert.RawSubject, want) {
		out = append(out, i+1)
	}
	for j := range c.Certs {
		if j != i && j != i+1 && bytes.Equal(c.Certs[j].Cert.RawSubject, want) {
			out = append(out, j)
		}
	}
	return out
}

// anchored: some certificate on the chain is in roots or signed by one of
// them. Each is checked on its own, at now clamped into its validity, so
// that an expired certificate (already reported) is not reported twice as
// "not anchored"; crypto/x509's Verify treats a certificate that is itself
// in the pool as a chain of one.
func (c Chain) anchored(roots *x509.CertPool, now time.Time, placed int) bool {
	for _, cc := range c.Certs[:placed] {
		t := now
		if t.Before(cc.NotBefore) {
			t = cc.NotBefore
		}
		if t.After(cc.NotAfter) {
			t = cc.NotAfter
		}
		_, err := cc.Cert.Verify(x509.VerifyOptions{
			Roots:       roots,
			CurrentTime: t,
			KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err == nil {
			return true
		}
	}
	return false
}

// placedCount is the number of certificates on the chain, i.e. not
// appended by Order as unrelated; a hand-built Chain counts whole.
func (c Chain) placedCount() int {
	if c.placed > 0 && c.placed <= len(c.Certs) {
		return c.placed
	}
	return len(c.Certs)
}

// pathTop is the index of the last certificate of the leaf's path: the run
// of leaf/intermediates, plus the root that ends it.
func (c Chain) pathTop(placed int) int {
	k := 0
	for k+1 < placed && c.Certs[k].Role != RoleRoot && c.Certs[k+1].Role == RoleIntermediate {
		k++
	}
	if k+1 < placed && c.Certs[k].Role != RoleRoot && c.Certs[k+1].Role == RoleRoot {
		k++
	}
	return k
}

// Expiry is one certificate expiring soon, or already expired.
type Expiry struct {
	Name     string
	NotAfter time.Time
	// DaysLeft is whole days until NotAfter, rounded down: 0 on the last
	// day, negative once expired.
	DaysLeft int
	Expired  bool
}

// Expiring lists the certificates that expire within d of now or have
// expired, soonest first (chain order on ties).
func (c Chain) Expiring(now time.Time, within time.Duration) []Expiry {
	var out []Expiry
	for _, cc := range c.Certs {
		left := cc.NotAfter.Sub(now)
		if left > within {
			continue
		}
		name := cc.Name
		if name == "" && cc.Cert != nil {
			name = FriendlyName(cc.Cert)
		}
		out = append(out, Expiry{Name: name, NotAfter: cc.NotAfter, DaysLeft: daysLeft(left), Expired: now.After(cc.NotAfter)})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].NotAfter.Before(out[b].NotAfter) })
	return out
}

func daysLeft(d time.Duration) int {
	return int(math.Floor(d.Hours() / 24))
}

func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
