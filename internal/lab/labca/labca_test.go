package labca

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func verify(t *testing.T, c *Chain, roots *x509.CertPool, name string) ([][]*x509.Certificate, error) {
	t.Helper()
	return c.Leaf.Verify(x509.VerifyOptions{
		DNSName:       name,
		Roots:         roots,
		Intermediates: c.IntermediatePool(),
	})
}

func TestSESChainVerifies(t *testing.T) {
	c, err := NewSESChain(Options{Region: "us-east-2"})
	if err != nil {
		t.Fatal(err)
	}
	const endpoint = "email-smtp.us-east-2.amazonaws.com"
	if c.EndpointName() != endpoint || c.Leaf.Subject.CommonName != endpoint {
		t.Fatalf("endpoint %q, leaf CN %q", c.EndpointName(), c.Leaf.Subject.CommonName)
	}
	if len(c.Leaf.DNSNames) != 1 || c.Leaf.DNSNames[0] != endpoint {
		t.Fatalf("SAN %v", c.Leaf.DNSNames)
	}
	if c.CrossRoot != nil || c.OldRoot != nil {
		t.Fatal("cross-signing parts present without CrossSigned")
	}
	chains, err := verify(t, c, c.RootPool(), endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if got := chains[0][len(chains[0])-1].Subject.String(); got != "CN=Lab Amazon Root CA 1,O=Lab Amazon,C=US" {
		t.Fatalf("anchor %q", got)
	}
	if got := c.Intermediate.Subject.String(); got != "CN=Lab Amazon RSA 2048 M02,O=Lab Amazon,C=US" {
		t.Fatalf("intermediate %q", got)
	}
	if _, err := verify(t, c, c.RootPool(), "email-smtp.us-east-1.amazonaws.com"); err == nil {
		t.Fatal("verified for another region's name")
	}
	if _, err := verify(t, c, x509.NewCertPool(), endpoint); err == nil {
		t.Fatal("verified without roots")
	}
	// Another chain's root (same subjects, other keys) does not verify it.
	other, err := NewSESChain(Options{Region: "us-east-2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify(t, c, other.RootPool(), endpoint); err == nil {
		t.Fatal("verified against another chain's root")
	}
	if n := len(c.TLSCertificate().Certificate); n != 2 {
		t.Fatalf("served %d certificates, want 2", n)
	}
}

func TestSESChainCrossSigned(t *testing.T) {
	c, err := NewSESChain(Options{CrossSigned: true})
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "email-smtp.us-east-1.amazonaws.com"
	if c.OldRoot == nil || c.CrossRoot == nil {
		t.Fatal("missing cross-signing parts")
	}
	if c.CrossRoot.Subject.String() != c.Root.Subject.String() ||
		c.CrossRoot.Issuer.String() != c.OldRoot.Subject.String() {
		t.Fatalf("cross root subject %q issuer %q", c.CrossRoot.Subject, c.CrossRoot.Issuer)
	}
	if want := "CN=Lab Starfield Services Root Certificate Authority - G2,O=Lab Starfield Technologies\\, Inc.,L=Scottsdale,ST=Arizona,C=US"; c.OldRoot.Subject.String() != want {
		t.Fatalf("old root %q", c.OldRoot.Subject)
	}
	tc := c.TLSCertificate()
	if len(tc.Certificate) != 3 {
		t.Fatalf("served %d certificates, want 3", len(tc.Certificate))
	}
	// Only the old root trusted: leaf -> intermediate -> cross root -> old root.
	chains, err := verify(t, c, Pool(c.OldRoot), endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if len(chains[0]) != 4 || !chains[0][3].Equal(c.OldRoot) || !chains[0][2].Equal(c.CrossRoot) {
		t.Fatalf("unexpected path via old root: %d certs", len(chains[0]))
	}
	// Only the new root trusted.
	if _, err := verify(t, c, Pool(c.Root), endpoint); err != nil {
		t.Fatal(err)
	}
	// PEM helpers.
	if n := countPEM(c.ServedPEM()); n != 3 {
		t.Fatalf("ServedPEM has %d blocks", n)
	}
	if n := countPEM(c.RootsPEM()); n != 2 {
		t.Fatalf("RootsPEM has %d blocks", n)
	}
	kp, err := c.LeafKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(append(c.LeafPEM(), c.IntermediatesPEM()...), kp); err != nil {
		t.Fatal(err)
	}
}

func TestServeOldRoot(t *testing.T) {
	if _, err := NewSESChain(Options{ServeOldRoot: true}); err == nil {
		t.Fatal("ServeOldRoot without CrossSigned accepted")
	}
	c, err := NewSESChain(Options{CrossSigned: true, ServeOldRoot: true})
	if err != nil {
		t.Fatal(err)
	}
	tc := c.TLSCertificate()
	if len(tc.Certificate) != 4 || string(tc.Certificate[3]) != string(c.OldRoot.Raw) {
		t.Fatalf("served %d certificates", len(tc.Certificate))
	}
	if _, err := verify(t, c, Pool(c.OldRoot), c.EndpointName()); err != nil {
		t.Fatal(err)
	}
}

func TestExpiredLeaf(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c, err := NewSESChain(Options{Now: func() time.Time { return now }, NotAfter: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Leaf.NotBefore.Before(c.Leaf.NotAfter) {
		t.Fatal("NotBefore not before NotAfter")
	}
	_, err = c.Leaf.Verify(x509.VerifyOptions{DNSName: c.EndpointName(), Roots: c.RootPool(),
		Intermediates: c.IntermediatePool(), CurrentTime: now})
	if ce, ok := err.(x509.CertificateInvalidError); !ok || ce.Reason != x509.Expired {
		t.Fatalf("want expired, got %v", err)
	}
	d, err := NewSESChain(Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Leaf.NotAfter.Sub(now); got != 90*24*time.Hour {
		t.Fatalf("default leaf lifetime %v", got)
	}
}

func TestCAIssue(t *testing.T) {
	ca, err := NewCA("Lab Manager CA")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := ca.Issue("smc-01.lab", []string{"smc-01.lab"}, []net.IP{net.ParseIP("127.0.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"smc-01.lab", "127.0.0.2"} {
		if _, err := tc.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: ca.Pool()}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// A real TLS handshake with it.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{tc}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca.PEM()) {
		t.Fatal("CA PEM not parsed")
	}
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "smc-01.lab"})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestWritePEM(t *testing.T) {
	ca, err := NewCA("x")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WritePEM(p, ca.Cert); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != string(ca.PEM()) {
		t.Fatalf("content %q, %v", b, err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", st.Mode())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("left-overs: %v", ents)
	}
	if err := WritePEM(filepath.Join(dir, "missing", "x.pem"), ca.Cert); err == nil {
		t.Fatal("no error for missing directory")
	}
	if err := WriteKeyPEM(filepath.Join(dir, "k.pem"), ca.Key); err != nil {
		t.Fatal(err)
	}
	st, _ = os.Stat(filepath.Join(dir, "k.pem"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", st.Mode())
	}
}

func countPEM(b []byte) int {
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return n
		}
		if !strings.Contains(blk.Type, "CERTIFICATE") {
			return -1
		}
		n++
	}
}
