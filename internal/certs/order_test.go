package certs

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"reflect"
	"strings"
	"testing"
	"time"
)

// permutations calls fn with every ordering of cs.
func permutations(cs []*x509.Certificate, fn func([]*x509.Certificate)) {
	var rec func(int)
	a := append([]*x509.Certificate(nil), cs...)
	rec = func(k int) {
		if k == len(a) {
			fn(append([]*x509.Certificate(nil), a...))
			return
		}
		for i := k; i < len(a); i++ {
			a[k], a[i] = a[i], a[k]
			rec(k + 1)
			a[k], a[i] = a[i], a[k]
		}
	}
	rec(0)
}

type summary struct{ Role, Name, CN string }

func summarize(ch Chain) []summary {
	var out []summary
	for _, c := range ch.Certs {
		out = append(out, summary{string(c.Role), c.Name, c.Cert.Subject.CommonName})
	}
	return out
}

func TestOrderAWSChainScrambled(t *testing.T) {
	f := aws(t)
	want := []summary{
		{"leaf", testHost, testHost},
		{"intermediate", "AmazonRSA2048M02", "Amazon RSA 2048 M02"},
		{"root", "AmazonRootCA1-" + Fingerprint(f.root)[:8], "Amazon Root CA 1"},
		{"cross-signed-root", "AmazonRootCA1-" + Fingerprint(f.cross)[:8], "Amazon Root CA 1"},
	}
	n := 0
	permutations([]*x509.Certificate{f.cross, f.leaf, f.root, f.inter}, func(in []*x509.Certificate) {
		n++
		ch := Order(in, testHost)
		if got := summarize(ch); !reflect.DeepEqual(got, want) {
			t.Fatalf("input order %v:\n got %v\nwant %v", cns(in), got, want)
		}
		if len(ch.Problems) != 0 {
			t.Fatalf("input order %v: problems %q", cns(in), ch.Problems)
		}
		if p := ch.Verify(testHost, testNow, nil); len(p) != 0 {
			t.Fatalf("input order %v: Verify: %q", cns(in), p)
		}
	})
	if n != 24 {
		t.Fatalf("%d permutations", n)
	}
}

func cns(cs []*x509.Certificate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Subject.CommonName+"/"+c.Issuer.CommonName)
	}
	return out
}

func TestOrderFields(t *testing.T) {
	f := aws(t)
	ch := Order([]*x509.Certificate{f.inter, f.leaf}, testHost)
	c := ch.Certs[1]
	if c.Subject != "CN=Amazon RSA 2048 M02,O=Amazon,C=US" || c.Issuer != "CN=Amazon Root CA 1,O=Amazon,C=US" {
		t.Errorf("Subject %q Issuer %q", c.Subject, c.Issuer)
	}
	if c.Serial != "773" {
		t.Errorf("Serial %q, want 773", c.Serial)
	}
	if c.SHA256 != Fingerprint(f.inter) || len(c.SHA256) != 64 || strings.ToLower(c.SHA256) != c.SHA256 {
		t.Errorf("SHA256 %q", c.SHA256)
	}
	if !c.NotAfter.Equal(f.inter.NotAfter) || !c.NotBefore.Equal(f.inter.NotBefore) {
		t.Errorf("validity %v..%v", c.NotBefore, c.NotAfter)
	}
	got, probs := ParseShowcerts(c.PEM)
	if len(probs) != 0 || len(got) != 1 || !got[0].Equal(f.inter) || !strings.HasSuffix(string(c.PEM), "\n") {
		t.Errorf("PEM does not round-trip: %q %v", c.PEM, probs)
	}
	// The leaf's issuer is present, the top is not self-signed and that is
	// fine (it is what gets trusted); a lone leaf is an incomplete chain.
	if p := ch.Verify(testHost, testNow, nil); len(p) != 0 {
		t.Errorf("Verify: %q", p)
	}
	lone := Order([]*x509.Certificate{f.leaf}, testHost)
	if p := lone.Verify(testHost, testNow, nil); len(p) != 1 || !strings.Contains(p[0], "issuer CN=Amazon RSA 2048 M02,O=Amazon,C=US is not in the chain") {
		t.Errorf("lone leaf: %q", p)
	}
}

// TestOrderShapes covers the other shapes a capture can have.
func TestOrderShapes(t *testing.T) {
	f := aws(t)
	other := selfSignedCA(t, pkix.Name{CommonName: "Unrelated CA"}, 7)
	tests := []struct {
		name     string
		in       []*x509.Certificate
		host     string
		want     []string // "role name"
		problems []string // substrings, in order
	}{
		{
			// What AWS really serves: no self-signed Amazon root, so no
			// name clash, and the names the procedure's awk gave.
			name: "served chain",
			in:   f.servedChain(), host: testHost,
			want: []string{"leaf " + testHost, "intermediate AmazonRSA2048M02", "intermediate AmazonRootCA1", "root StarfieldServicesRootCertificateAuthority-G2"},
		},
		{
			name: "all five",
			in:   []*x509.Certificate{f.starfield, f.cross, f.root, f.inter, f.leaf}, host: testHost,
			want: []string{"leaf " + testHost, "intermediate AmazonRSA2048M02", "root AmazonRootCA1-" + Fingerprint(f.root)[:8],
				"root StarfieldServicesRootCertificateAuthority-G2", "cross-signed-root AmazonRootCA1-" + Fingerprint(f.cross)[:8]},
		},
		{
			name: "unrelated certificate",
			in:   []*x509.Certificate{other, f.inter, f.leaf}, host: testHost,
			want:     []string{"leaf " + testHost, "intermediate AmazonRSA2048M02", "root UnrelatedCA"},
			problems: []string{"certificate Unrelated CA does not chain to anything in the set"},
		},
		{
			name: "no leaf",
			in:   []*x509.Certificate{f.root, f.inter}, host: "",
			want:     []string{"intermediate AmazonRSA2048M02", "root AmazonRootCA1"},
			problems: []string{"no leaf certificate: every certificate is a CA"},
		},
		{
			name: "wrong host",
			in:   []*x509.Certificate{f.root, f.inter, f.leaf}, host: "email-smtp.eu-west-1.amazonaws.com:587",
			want:     []string{"leaf " + testHost, "intermediate AmazonRSA2048M02", "root AmazonRootCA1"},
			problems: []string{"no leaf for host email-smtp.eu-west-1.amazonaws.com: no certificate's names match it (using " + testHost + " as the leaf)"},
		},
		{
			name: "duplicates dropped",
			in:   []*x509.Certificate{f.leaf, f.inter, f.leaf, f.inter}, host: testHost,
			want: []string{"leaf " + testHost, "intermediate AmazonRSA2048M02"},
		},
		{name: "empty", problems: []string{"no certificates"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Order(tt.in, tt.host)
			var got []string
			for _, c := range ch.Certs {
				got = append(got, string(c.Role)+" "+c.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("input %v host %q:\n got %q\nwant %q", cns(tt.in), tt.host, got, tt.want)
			}
			if len(ch.Problems) != len(tt.problems) {
				t.Fatalf("problems: got %q, want %q", ch.Problems, tt.problems)
			}
			for i := range tt.problems {
				if !strings.Contains(ch.Problems[i], tt.problems[i]) {
					t.Errorf("problem %d: got %q, want it to contain %q", i, ch.Problems[i], tt.problems[i])
				}
			}
		})
	}
}

func TestVerify(t *testing.T) {
	f := aws(t)
	full := []*x509.Certificate{f.cross, f.leaf, f.root, f.inter}
	poolOf := func(cs ...*x509.Certificate) *x509.CertPool {
		p := x509.NewCertPool()
		for _, c := range cs {
			p.AddCert(c)
		}
		return p
	}
	unrelated := selfSignedCA(t, pkix.Name{CommonName: "Unrelated CA"}, 9)
	tests := []struct {
		name  string
		in    []*x509.Certificate
		host  string
		now   time.Time
		roots *x509.CertPool
		want  []string // substrings, in order; nil = verified
	}{
		{name: "ok", in: full, host: testHost, now: testNow},
		{name: "ok no host", in: full, now: testNow},
		{name: "ok served chain", in: f.servedChain(), host: testHost, now: testNow},
		{name: "wrong host", in: full, host: "email-smtp.eu-west-1.amazonaws.com", now: testNow,
			want: []string{testHost + ": does not match host email-smtp.eu-west-1.amazonaws.com"}},
		{name: "forged leaf", in: []*x509.Certificate{f.forgedLeaf, f.inter, f.root}, host: testHost, now: testNow,
			want: []string{testHost + ": signature by Amazon RSA 2048 M02 does not verify"}},
		{name: "expired leaf", in: full, host: testHost, now: f.leaf.NotAfter.Add(24 * time.Hour),
			want: []string{testHost + ": expired on " + stamp(f.leaf.NotAfter)}},
		{name: "not yet valid", in: full, host: testHost, now: f.leaf.NotBefore.Add(-time.Hour),
			want: []string{testHost + ": not valid before"}},
		// The stray CA has expired by then; Order reported it as unrelated,
		// so Verify, which is about the chain, does not.
		{name: "stray cert not checked", in: []*x509.Certificate{f.leaf, f.inter, f.root, unrelated}, host: testHost, now: testNow.Add(48 * time.Hour)},
		{name: "anchored by root", in: full, host: testHost, now: testNow, roots: poolOf(f.root)},
		// Only Starfield trusted: the cross-signed twin anchors the chain.
		{name: "anchored by starfield", in: full, host: testHost, now: testNow, roots: poolOf(f.starfield)},
		{name: "anchored by intermediate", in: []*x509.Certificate{f.leaf, f.inter}, host: testHost, now: testNow, roots: poolOf(f.inter)},
		{name: "not anchored", in: full, host: testHost, now: testNow, roots: poolOf(unrelated),
			want: []string{"chain does not anchor in the given roots"}},
		// The unrelated CA appended by Order must not count as an anchor.
		{name: "stray cert is no anchor", in: []*x509.Certificate{f.leaf, f.inter, unrelated}, host: testHost, now: testNow, roots: poolOf(unrelated),
			want: []string{"chain does not anchor in the given roots", "top: Amazon RSA 2048 M02"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Order(tt.in, tt.host).Verify(tt.host, tt.now, tt.roots)
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if len(got) != 1 {
				t.Fatalf("input %v host %q now %v:\n got %q\nwant one problem containing %q", cns(tt.in), tt.host, tt.now, got, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("input %v host %q:\n got %q\nwant it to contain %q", cns(tt.in), tt.host, got[0], w)
				}
			}
		})
	}
}

// A root whose self-signature is broken is reported, and since two
// certificates are "Amazon Root CA 1" the message carries the friendly name.
func TestVerifyNamesTwins(t *testing.T) {
	f := aws(t)
	bad := *f.root
	bad.Signature = append([]byte(nil), f.root.Signature...)
	bad.Signature[10] ^= 0xFF
	ch := Order([]*x509.Certificate{f.leaf, f.inter, &bad, f.cross}, testHost)
	// Same key, so M02 still verifies; only the self-signature is broken.
	got := ch.Verify(testHost, testNow, nil)
	if len(got) != 1 || !strings.Contains(got[0], "Amazon Root CA 1 (AmazonRootCA1-") || !strings.Contains(got[0], "self-signature does not verify") {
		t.Errorf("got %q", got)
	}
}

func TestExpiring(t *testing.T) {
	f := aws(t)
	ch := Order([]*x509.Certificate{f.cross, f.leaf, f.root, f.inter}, testHost)
	if e := ch.Expiring(testNow, 30*24*time.Hour); len(e) != 0 {
		t.Errorf("nothing expires within 30 days, got %+v", e)
	}
	e := ch.Expiring(testNow, 301*24*time.Hour)
	if len(e) != 1 || e[0].Name != testHost || e[0].DaysLeft != 300 || e[0].Expired {
		t.Errorf("got %+v, want the leaf with 300 days left", e)
	}
	later := f.leaf.NotAfter.Add(36 * time.Hour)
	e = ch.Expiring(later, 5*365*24*time.Hour)
	if len(e) != 2 || e[0].Name != testHost || !e[0].Expired || e[0].DaysLeft != -2 || e[1].Name != "AmazonRSA2048M02" || e[1].Expired {
		t.Errorf("got %+v, want the expired leaf (-2 days) then M02", e)
	}
}

func TestFingerprint(t *testing.T) {
	f := aws(t)
	fp := Fingerprint(f.leaf)
	ffp := FormatFingerprint(fp)
	if len(ffp) != 95 || strings.ToUpper(ffp) != ffp || strings.ReplaceAll(strings.ToLower(ffp), ":", "") != fp {
		t.Errorf("FormatFingerprint(%q) = %q", fp, ffp)
	}
	if got := FormatFingerprint("0aFf1"); got != "0A:FF:1" {
		t.Errorf("FormatFingerprint(0aFf1) = %q", got)
	}
}
