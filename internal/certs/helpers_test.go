package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every certificate here is generated at run time; no key is ever written.

// testNow is the fixed "now" of the tests, so that they do not depend on the
// wall clock.
var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const testHost = "email-smtp.us-east-1.amazonaws.com"

var (
	subjStarfield = pkix.Name{
		Country:      []string{"US"},
		Province:     []string{"Arizona"},
		Locality:     []string{"Scottsdale"},
		Organization: []string{"Starfield Technologies, Inc."},
		CommonName:   "Starfield Services Root Certificate Authority - G2",
	}
	subjRoot  = pkix.Name{Country: []string{"US"}, Organization: []string{"Amazon"}, CommonName: "Amazon Root CA 1"}
	subjInter = pkix.Name{Country: []string{"US"}, Organization: []string{"Amazon"}, CommonName: "Amazon RSA 2048 M02"}
	subjLeaf  = pkix.Name{CommonName: testHost}
)

// awsFixture is an SES-shaped chain: the leaf, "Amazon RSA 2048 M02", the
// self-signed "Amazon Root CA 1", the same root cross-signed by Starfield
// Services G2 (what AWS serves), the Starfield root itself, and a leaf with
// the right names but signed by an impostor key.
type awsFixture struct {
	leaf, inter, root, cross, starfield, forgedLeaf *x509.Certificate
}

var (
	fixtureOnce sync.Once
	fixture     *awsFixture
	fixtureErr  error
)

func aws(t testing.TB) *awsFixture {
	t.Helper()
	fixtureOnce.Do(func() { fixture, fixtureErr = makeAWS() })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

func makeAWS() (*awsFixture, error) {
	keys := make([]*rsa.PrivateKey, 5)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	sfKey, rootKey, interKey, leafKey, evilKey := keys[0], keys[1], keys[2], keys[3], keys[4]
	day := 24 * time.Hour
	var f awsFixture
	var err error
	must := func(c *x509.Certificate, e error) *x509.Certificate {
		if e != nil && err == nil {
			err = e
		}
		return c
	}
	sfT := caTemplate(subjStarfield, 0x5F, testNow.Add(-15*365*day), testNow.Add(10*365*day))
	f.starfield = must(sign(sfT, nil, sfKey, sfKey))
	rootT := caTemplate(subjRoot, 0x066C, testNow.Add(-10*365*day), testNow.Add(13*365*day))
	f.root = must(sign(rootT, nil, rootKey, rootKey))
	crossT := caTemplate(subjRoot, 0x0671, testNow.Add(-9*365*day), testNow.Add(12*365*day))
	f.cross = must(sign(crossT, f.starfield, rootKey, sfKey))
	interT := caTemplate(subjInter, 0x0773, testNow.Add(-2*365*day), testNow.Add(5*365*day))
	interT.MaxPathLen, interT.MaxPathLenZero = 0, true
	f.inter = must(sign(interT, f.root, interKey, rootKey))
	leafT := leafTemplate(subjLeaf, 0x0AB1, testNow.Add(-30*day), testNow.Add(300*day), testHost)
	f.leaf = must(sign(leafT, f.inter, leafKey, interKey))
	// The impostor: issuer name "Amazon RSA 2048 M02", key not M02's. A
	// copy of M02 without its public key gives CreateCertificate the issuer
	// name without its "key does not match parent" check.
	fakeInter := *f.inter
	fakeInter.PublicKey = nil
	f.forgedLeaf = must(sign(leafT, &fakeInter, leafKey, evilKey))
	return &f, err
}

func caTemplate(subj pkix.Name, serial int64, nb, na time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               subj,
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

func leafTemplate(subj pkix.Name, serial int64, nb, na time.Time, dns ...string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               subj,
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
	}
}

// sign creates tmpl with subject key pub(subjectKey), signed by signer,
// issued by parent (nil: self-signed).
func sign(tmpl, parent *x509.Certificate, subjectKey, signer crypto.Signer) (*x509.Certificate, error) {
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, subjectKey.Public(), signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// ecKey is a fast key for the many small certificates of the name tests.
func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// selfSignedCA makes a self-signed CA with subject subj.
func selfSignedCA(t testing.TB, subj pkix.Name, serial int64) *x509.Certificate {
	t.Helper()
	k := ecKey(t)
	c, err := sign(caTemplate(subj, serial, testNow.Add(-time.Hour), testNow.Add(24*time.Hour)), nil, k, k)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// --- openssl s_client -showcerts renderings -------------------------------

var shortNames = map[string]string{
	"2.5.4.6": "C", "2.5.4.8": "ST", "2.5.4.7": "L", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.3": "CN",
}

func attrs(n pkix.Name) [][2]string {
	var out [][2]string
	for _, atv := range n.Names {
		k := shortNames[atv.Type.String()]
		if k == "" {
			k = atv.Type.String()
		}
		out = append(out, [2]string{k, fmt.Sprint(atv.Value)})
	}
	return out
}

// dn3 is OpenSSL 1.1.1/3's oneline format: "C = US, O = Amazon, CN = X",
// with values containing a comma in double quotes.
func dn3(n pkix.Name) string {
	var parts []string
	for _, a := range attrs(n) {
		v := a[1]
		if strings.ContainsAny(v, ",+;") {
			v = `"` + v + `"`
		}
		parts = append(parts, a[0]+" = "+v)
	}
	return strings.Join(parts, ", ")
}

// dn11 is the older slash format: "/C=US/O=Amazon/CN=X".
func dn11(n pkix.Name) string {
	var b strings.Builder
	for _, a := range attrs(n) {
		b.WriteString("/" + a[0] + "=" + a[1])
	}
	return b.String()
}

func pemOf(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func opensslDate(t time.Time) string {
	return t.UTC().Format("Jan _2 15:04:05 2006 GMT")
}

// showcerts3 renders what OpenSSL 3's `s_client -starttls smtp -showcerts`
// prints for chain (served order), SMTP chatter and "DONE" included.
func showcerts3(chain []*x509.Certificate) string {
	var b strings.Builder
	b.WriteString("CONNECTED(00000003)\n")
	for d := len(chain) - 1; d >= 0; d-- {
		fmt.Fprintf(&b, "depth=%d %s\nverify return:1\n", d, dn3(chain[d].Subject))
	}
	b.WriteString("---\nCertificate chain\n")
	for i, c := range chain {
		fmt.Fprintf(&b, " %d s:%s\n   i:%s\n", i, dn3(c.Subject), dn3(c.Issuer))
		fmt.Fprintf(&b, "   a:PKEY: rsaEncryption, 2048 (bit); sigalg: RSA-SHA256\n")
		fmt.Fprintf(&b, "   v:NotBefore: %s; NotAfter: %s\n", opensslDate(c.NotBefore), opensslDate(c.NotAfter))
		b.WriteString(pemOf(c))
	}
	fmt.Fprintf(&b, "---\nServer certificate\nsubject=%s\nissuer=%s\n", dn3(chain[0].Subject), dn3(chain[0].Issuer))
	b.WriteString(`---
No client certificate CA names sent
Peer signing digest: SHA256
Peer signature type: RSA-PSS
Server Temp Key: ECDH, prime256v1, 256 bits
---
SSL handshake has read 5629 bytes and written 447 bytes
Verification: OK
---
New, TLSv1.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256
Server public key is 2048 bit
Secure Renegotiation IS supported
Compression: NONE
Expansion: NONE
No ALPN negotiated
SSL-Session:
    Protocol  : TLSv1.2
    Cipher    : ECDHE-RSA-AES128-GCM-SHA256
    Session-ID: 3F1C0A9E5B7D2C4E6A8B0D1F3E5C7A9B1D3F5E7C9A0B2D4F6E8C0A1B3D5F7E9C
    Session-ID-ctx: 
    Master-Key: 9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B7C6D5E4F3A2B1C0D9E8F7A6B
    PSK identity: None
    PSK identity hint: None
    SRP username: None
    Start Time: 1740830400
    Timeout   : 7200 (sec)
    Verify return code: 0 (ok)
    Extended master secret: yes
---
250-email-smtp.amazonaws.com
250-8BITMIME
250-STARTTLS
250-AUTH PLAIN LOGIN
250 Ok
DONE
`)
	return b.String()
}

// showcerts11 renders the older OpenSSL style: slash DNs, no a:/v: lines,
// and the leaf printed a second time under "Server certificate".
func showcerts11(chain []*x509.Certificate) string {
	var b strings.Builder
	b.WriteString("CONNECTED(00000003)\n")
	for d := len(chain) - 1; d >= 0; d-- {
		fmt.Fprintf(&b, "depth=%d %s\nverify return:1\n", d, dn11(chain[d].Subject))
	}
	b.WriteString("---\nCertificate chain\n")
	for i, c := range chain {
		fmt.Fprintf(&b, " %d s:%s\n   i:%s\n", i, dn11(c.Subject), dn11(c.Issuer))
		b.WriteString(pemOf(c))
	}
	b.WriteString("---\nServer certificate\n")
	b.WriteString(pemOf(chain[0]))
	fmt.Fprintf(&b, "subject=%s\nissuer=%s\n", dn11(chain[0].Subject), dn11(chain[0].Issuer))
	b.WriteString(`---
No client certificate CA names sent
Server Temp Key: ECDH, P-256, 256 bits
---
SSL handshake has read 5621 bytes and written 447 bytes
---
New, TLSv1/SSLv3, Cipher is ECDHE-RSA-AES128-GCM-SHA256
Server public key is 2048 bit
Secure Renegotiation IS supported
SSL-Session:
    Protocol  : TLSv1.2
    Cipher    : ECDHE-RSA-AES128-GCM-SHA256
    Verify return code: 20 (unable to get local issuer certificate)
---
250 Ok
DONE
`)
	return b.String()
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// servedChain is what SES sends: leaf, M02, Amazon Root CA 1 cross-signed
// by Starfield, Starfield Services G2 (here self-signed).
func (f *awsFixture) servedChain() []*x509.Certificate {
	return []*x509.Certificate{f.leaf, f.inter, f.cross, f.starfield}
}
