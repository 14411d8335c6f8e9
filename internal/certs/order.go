package certs

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sort"
)

// Order arranges certs as a chain for host (the endpoint name, may be
// empty; a ":port" suffix is ignored):
//
//   - the leaf is a non-CA certificate, preferring one whose names match
//     host, then the one with the longest path above it;
//   - the path follows issuer→subject links, checked with
//     CheckSignatureFrom; when several certificates could be the issuer a
//     self-signed one wins (it ends the path: that is the root), then one
//     whose subject key ID matches the child's authority key ID. A link whose
//     name matches but whose signature does not verify is still followed
//     when nothing better exists, so that Verify can report "signature by X
//     does not verify" instead of a confusing "does not chain";
//   - a self-signed certificate at the end of the path is "root";
//   - a certificate with the same subject and public key as one already
//     placed but a different issuer is "cross-signed-root"; its own issuers,
//     when present, follow it (self-signed ones as "root", the others as
//     "cross-signed-root");
//   - anything else is appended last, with a Problem.
//
// The result depends only on the set of certificates and host, not on
// their order (inputs are sorted by fingerprint first), and duplicates (same
// DER) are dropped.
func Order(certs []*x509.Certificate, host string) Chain {
	host = hostOnly(host)
	o := newOrderer(certs)
	n := len(o.certs)
	var problems []string
	if n == 0 {
		return Chain{Problems: []string{"no certificates"}}
	}

	var nonCA, hostCands []int
	for i, c := range o.certs {
		if !(c.BasicConstraintsValid && c.IsCA) {
			nonCA = append(nonCA, i)
			if host != "" && c.VerifyHostname(host) == nil {
				hostCands = append(hostCands, i)
			}
		}
	}
	hostMissing := host != "" && len(hostCands) == 0
	leafCands := hostCands
	if len(leafCands) == 0 {
		leafCands = nonCA
	}
	startIsLeaf := len(leafCands) > 0
	if !startIsLeaf {
		// Only CAs (someone fed the intermediates alone): start from the
		// bottom, i.e. certificates that issued nothing else in the set.
		for i := range o.certs {
			if !o.issuedAnything(i) {
				leafCands = append(leafCands, i)
			}
		}
		if len(leafCands) == 0 { // a cycle of cross-signatures
			for i := range o.certs {
				leafCands = append(leafCands, i)
			}
		}
	}
	start, best := -1, -1
	for _, i := range leafCands { // in fingerprint order: ties are stable
		if l := len(o.path(i, make([]bool, n))); l > best {
			start, best = i, l
		}
	}

	used := make([]bool, n)
	path := o.path(start, used)
	role := make([]Role, n)
	for k, i := range path {
		switch {
		case k == 0 && startIsLeaf:
			role[i] = RoleLeaf
		case k == len(path)-1 && o.selfSigned(i):
			role[i] = RoleRoot
		default:
			role[i] = RoleIntermediate
		}
	}

	// Cross-signed twins of anything placed, and what issued them. placed
	// grows while it is walked, so twins of twins' issuers are found too.
	placed := append([]int(nil), path...)
	var branchRoots, cross []int
	for k := 0; k < len(placed); k++ {
		if role[placed[k]] == RoleLeaf {
			continue // "cross-signed" is about CAs; a reissued leaf is just off the chain
		}
		p := o.certs[placed[k]]
		for u, c := range o.certs {
			if used[u] || !bytes.Equal(c.RawSubject, p.RawSubject) ||
				!bytes.Equal(c.RawSubjectPublicKeyInfo, p.RawSubjectPublicKeyInfo) ||
				bytes.Equal(c.RawIssuer, p.RawIssuer) {
				continue
			}
			used[u] = true
			role[u] = RoleCrossSigned
			cross = append(cross, u)
			placed = append(placed, u)
			for cur := u; ; {
				j := o.issuer(cur, used)
				if j < 0 {
					break
				}
				used[j] = true
				placed = append(placed, j)
				if o.selfSigned(j) {
					role[j] = RoleRoot
					branchRoots = append(branchRoots, j)
				} else {
					role[j] = RoleCrossSigned
					cross = append(cross, j)
				}
				cur = j
			}
		}
	}

	var rest []int
	for i, c := range o.certs {
		if used[i] {
			continue
		}
		rest = append(rest, i)
		switch {
		case !(c.BasicConstraintsValid && c.IsCA):
			role[i] = RoleLeaf
		case o.selfSigned(i):
			role[i] = RoleRoot
		default:
			role[i] = RoleIntermediate
		}
	}

	order := append(append(append(append([]int(nil), path...), branchRoots...), cross...), rest...)
	ch := Chain{Certs: make([]Cert, len(order)), placed: len(order) - len(rest)}
	pos := make([]int, n)
	for k, i := range order {
		ch.Certs[k] = newCert(o.certs[i])
		ch.Certs[k].Role = role[i]
		pos[i] = k
	}
	assignNames(ch.Certs)
	labels := ch.labels()

	if hostMissing {
		if startIsLeaf {
			problems = append(problems, fmt.Sprintf("no leaf for host %s: no certificate's names match it (using %s as the leaf)", host, labels[0]))
		} else {
			problems = append(problems, fmt.Sprintf("no leaf for host %s: every certificate is a CA", host))
		}
	} else if !startIsLeaf {
		problems = append(problems, "no leaf certificate: every certificate is a CA")
	}
	for _, i := range rest {
		if o.related(i) {
			problems = append(problems, fmt.Sprintf("certificate %s is not on the chain of %s", labels[pos[i]], labels[0]))
		} else {
			problems = append(problems, fmt.Sprintf("certificate %s does not chain to anything in the set", labels[pos[i]]))
		}
	}
	ch.Problems = problems
	return ch
}

// hostOnly drops a ":port" suffix: people paste "host:587" from the
// s_client command line.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// orderer holds the deduplicated, sorted set and caches signature checks
// (RSA verification dominates the cost, and the same pair is asked about
// again for each leaf candidate).
type orderer struct {
	certs   []*x509.Certificate
	sig     map[[2]int]bool
	selfSig map[int]bool
}

func newOrderer(in []*x509.Certificate) *orderer {
	seen := map[string]bool{}
	type fc struct {
		fp string
		c  *x509.Certificate
	}
	var list []fc
	for _, c := range in {
		if c == nil {
			continue
		}
		fp := Fingerprint(c)
		if seen[fp] {
			continue
		}
		seen[fp] = true
		list = append(list, fc{fp, c})
	}
	sort.Slice(list, func(a, b int) bool { return list[a].fp < list[b].fp })
	o := &orderer{sig: map[[2]int]bool{}, selfSig: map[int]bool{}}
	for _, x := range list {
		o.certs = append(o.certs, x.c)
	}
	return o
}

// selfSigned is by name (subject == issuer): that is what makes a
// certificate the top of a path. Whether its self-signature verifies is
// Verify's business.
func (o *orderer) selfSigned(i int) bool {
	return bytes.Equal(o.certs[i].RawSubject, o.certs[i].RawIssuer)
}

func (o *orderer) selfSigOK(i int) bool {
	ok, done := o.selfSig[i]
	if !done {
		ok = checkSelfSignature(o.certs[i]) == nil
		o.selfSig[i] = ok
	}
	return ok
}

func (o *orderer) sigOK(child, parent int) bool {
	k := [2]int{child, parent}
	ok, done := o.sig[k]
	if !done {
		ok = o.certs[child].CheckSignatureFrom(o.certs[parent]) == nil
		o.sig[k] = ok
	}
	return ok
}

// issuer picks the issuer of certs[i] among the unused certificates, or -1.
func (o *orderer) issuer(i int, used []bool) int {
	c := o.certs[i]
	self := o.selfSigned(i)
	if self && o.selfSigOK(i) {
		return -1
	}
	var cands, verified []int
	for j, p := range o.certs {
		if j == i || used[j] || !bytes.Equal(p.RawSubject, c.RawIssuer) {
			continue
		}
		cands = append(cands, j)
		if o.sigOK(i, j) {
			verified = append(verified, j)
		}
	}
	if len(verified) == 0 {
		// A self-issued certificate whose self-signature fails is still a
		// top (Verify reports it); only a verifying same-name issuer (key
		// rollover) would continue its path.
		if self {
			return -1
		}
		verified = cands
	}
	best := -1
	for _, j := range verified {
		if best < 0 || o.better(i, j, best) {
			best = j
		}
	}
	return best
}

// better reports whether j is a better issuer for child than k.
func (o *orderer) better(child, j, k int) bool {
	if sj, sk := o.selfSigned(j), o.selfSigned(k); sj != sk {
		return sj
	}
	aki := o.certs[child].AuthorityKeyId
	if mj, mk := len(aki) > 0 && bytes.Equal(aki, o.certs[j].SubjectKeyId),
		len(aki) > 0 && bytes.Equal(aki, o.certs[k].SubjectKeyId); mj != mk {
		return mj
	}
	if a, b := o.certs[j].NotAfter, o.certs[k].NotAfter; !a.Equal(b) {
		return a.After(b)
	}
	return j < k
}

// path returns start and its issuers, marking them used.
func (o *orderer) path(start int, used []bool) []int {
	p := []int{start}
	used[start] = true
	for cur := start; ; {
		j := o.issuer(cur, used)
		if j < 0 {
			return p
		}
		used[j] = true
		p = append(p, j)
		cur = j
	}
}

// issuedAnything: some other certificate of the set names i as its issuer.
func (o *orderer) issuedAnything(i int) bool {
	for j, c := range o.certs {
		if j != i && bytes.Equal(c.RawIssuer, o.certs[i].RawSubject) {
			return true
		}
	}
	return false
}

// related: i names, or is named by, another certificate of the set.
func (o *orderer) related(i int) bool {
	if o.issuedAnything(i) {
		return true
	}
	for j, c := range o.certs {
		if j != i && bytes.Equal(c.RawSubject, o.certs[i].RawIssuer) {
			return true
		}
	}
	return false
}

// checkSelfSignature verifies a certificate's signature with its own key.
// Not CheckSignatureFrom(itself): that also demands the CA bit, and a
// self-signed server certificate is not a CA. An insecure algorithm (SHA-1,
// common on old roots) is accepted here: nobody relies on a trust anchor's
// self-signature, and crypto/x509 does not check it either.
func checkSelfSignature(c *x509.Certificate) error {
	err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
	var insecure x509.InsecureAlgorithmError
	if errors.As(err, &insecure) {
		return nil
	}
	return err
}
