// Package labca makes throw-away certificate authorities for the simulated
// fleet ("lab"): a chain shaped like the one Amazon SES serves on its SMTP
// endpoints, and a generic CA for the simulated Managers' HTTPS APIs.
//
// Everything is generated at run time with crypto/x509; no key is ever
// written to the repository. Subjects carry a "Lab " prefix so that a lab
// certificate can never be mistaken for a real Amazon or Starfield one, but
// they keep the real shape: the CN is the last RDN (as in the real
// certificates), so the procedure's awk, which takes the text after the last
// "CN=" of openssl's "s:" line, names the files as it would against AWS
// ("LabAmazonRootCA1.pem", "email-smtp.us-east-1.amazonaws.com.pem", ...).
package labca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/smcfleet/smcfleet/internal/atomicfile"
)

// Subjects of the SES-like chain.
var (
	RootSubject = pkix.Name{
		Country:      []string{"US"},
		Organization: []string{"Lab Amazon"},
		CommonName:   "Lab Amazon Root CA 1",
	}
	IntermediateSubject = pkix.Name{
		Country:      []string{"US"},
		Organization: []string{"Lab Amazon"},
		CommonName:   "Lab Amazon RSA 2048 M02",
	}
	OldRootSubject = pkix.Name{
		Country:      []string{"US"},
		Province:     []string{"Arizona"},
		Locality:     []string{"Scottsdale"},
		Organization: []string{"Lab Starfield Technologies, Inc."},
		CommonName:   "Lab Starfield Services Root Certificate Authority - G2",
	}
)

// DefaultRegion is used when Options.Region is empty.
const DefaultRegion = "us-east-1"

// EndpointName is the SES SMTP host name of a region.
func EndpointName(region string) string {
	if region == "" {
		region = DefaultRegion
	}
	return "email-smtp." + strings.ToLower(region) + ".amazonaws.com"
}

// Options configures NewSESChain.
type Options struct {
	// Region selects the leaf name email-smtp.<Region>.amazonaws.com
	// (default us-east-1).
	Region string
	// CrossSigned adds OldRoot and CrossRoot (Root's subject and key signed
	// by OldRoot), and makes TLSCertificate serve CrossRoot after the
	// intermediate, as AWS does with Starfield -> Amazon Root CA 1.
	CrossSigned bool
	// ServeOldRoot (with CrossSigned) also serves OldRoot after CrossRoot,
	// so the server sends four certificates and the procedure's awk makes
	// four files, as in its example (AWS sends the Starfield root too).
	ServeOldRoot bool
	// NotAfter of the leaf; default Now()+90 days. A time in the past makes
	// an expired leaf (its NotBefore is then moved 90 days before it).
	NotAfter time.Time
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Chain is an SES-like certificate chain:
//
//	Leaf (email-smtp.<region>.amazonaws.com, RSA 2048)
//	  <- Intermediate ("Lab Amazon RSA 2048 M02")
//	  <- Root ("Lab Amazon Root CA 1", self-signed)
//	     or CrossRoot (same subject and key as Root, issued by OldRoot)
//	        <- OldRoot ("Lab Starfield Services Root Certificate Authority - G2")
//
// All keys are RSA 2048: the leaf must be RSA for the DHE-RSA suites of
// the legacy-DHE model, and the CA names say "RSA 2048".
type Chain struct {
	Root, Intermediate, Leaf *x509.Certificate
	// CrossRoot and OldRoot are nil unless Options.CrossSigned.
	CrossRoot *x509.Certificate
	OldRoot   *x509.Certificate
	LeafKey   crypto.Signer

	// CA keys, for tests that need to issue more certificates (for
	// instance a second leaf under the same intermediate).
	RootKey, IntermediateKey, OldRootKey crypto.Signer

	Region       string
	CrossSigned  bool
	ServeOldRoot bool
}

// NewSESChain generates a fresh chain. Each call makes new keys, so two
// chains never verify against each other's roots even though their
// subjects are equal.
func NewSESChain(opts Options) (*Chain, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	t0 := now()
	region := opts.Region
	if region == "" {
		region = DefaultRegion
	}
	endpoint := EndpointName(region)

	nkeys := 3
	if opts.CrossSigned {
		nkeys = 4
	}
	keys, err := rsaKeys(nkeys)
	if err != nil {
		return nil, err
	}
	if opts.ServeOldRoot && !opts.CrossSigned {
		return nil, errors.New("labca: ServeOldRoot needs CrossSigned")
	}
	c := &Chain{Region: region, CrossSigned: opts.CrossSigned, ServeOldRoot: opts.ServeOldRoot,
		RootKey: keys[0], IntermediateKey: keys[1], LeafKey: keys[2]}

	// Root: self-signed, long-lived (Amazon Root CA 1 runs 2015-2038).
	rootTmpl := caTemplate(RootSubject, t0.AddDate(-5, 0, 0), t0.AddDate(15, 0, 0), -1)
	if c.Root, err = create(rootTmpl, rootTmpl, c.RootKey.Public(), c.RootKey); err != nil {
		return nil, fmt.Errorf("labca: root: %w", err)
	}
	// Intermediate: path length 0, issued by Root.
	intTmpl := caTemplate(IntermediateSubject, t0.AddDate(-1, 0, 0), t0.AddDate(5, 0, 0), 0)
	if c.Intermediate, err = create(intTmpl, c.Root, c.IntermediateKey.Public(), c.RootKey); err != nil {
		return nil, fmt.Errorf("labca: intermediate: %w", err)
	}
	if opts.CrossSigned {
		c.OldRootKey = keys[3]
		oldTmpl := caTemplate(OldRootSubject, t0.AddDate(-15, 0, 0), t0.AddDate(12, 0, 0), -1)
		if c.OldRoot, err = create(oldTmpl, oldTmpl, c.OldRootKey.Public(), c.OldRootKey); err != nil {
			return nil, fmt.Errorf("labca: old root: %w", err)
		}
		// The cross certificate: Root's subject and key, issued by OldRoot.
		crossTmpl := caTemplate(RootSubject, t0.AddDate(-5, 0, 0), t0.AddDate(10, 0, 0), -1)
		crossTmpl.SubjectKeyId = c.Root.SubjectKeyId
		if c.CrossRoot, err = create(crossTmpl, c.OldRoot, c.RootKey.Public(), c.OldRootKey); err != nil {
			return nil, fmt.Errorf("labca: cross-signed root: %w", err)
		}
	}

	notAfter := opts.NotAfter
	if notAfter.IsZero() {
		notAfter = t0.Add(90 * 24 * time.Hour)
	}
	notBefore := t0.Add(-24 * time.Hour)
	if !notBefore.Before(notAfter) {
		notBefore = notAfter.Add(-90 * 24 * time.Hour)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: endpoint},
		DNSNames:              []string{endpoint},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	if c.Leaf, err = create(leafTmpl, c.Intermediate, c.LeafKey.Public(), c.IntermediateKey); err != nil {
		return nil, fmt.Errorf("labca: leaf: %w", err)
	}
	return c, nil
}

// EndpointName is the leaf's DNS name, email-smtp.<region>.amazonaws.com.
func (c *Chain) EndpointName() string { return EndpointName(c.Region) }

// Served is the list of certificates the server sends, in order: leaf,
// intermediate, the cross-signed root when CrossSigned, and OldRoot when
// ServeOldRoot.
func (c *Chain) Served() []*x509.Certificate {
	out := []*x509.Certificate{c.Leaf, c.Intermediate}
	if c.CrossRoot != nil {
		out = append(out, c.CrossRoot)
		if c.ServeOldRoot && c.OldRoot != nil {
			out = append(out, c.OldRoot)
		}
	}
	return out
}

// Roots is Root, then OldRoot when present.
func (c *Chain) Roots() []*x509.Certificate {
	out := []*x509.Certificate{c.Root}
	if c.OldRoot != nil {
		out = append(out, c.OldRoot)
	}
	return out
}

// TLSCertificate is the server certificate as AWS sends it: Served(), with
// the leaf key.
func (c *Chain) TLSCertificate() tls.Certificate {
	var tc tls.Certificate
	for _, cert := range c.Served() {
		tc.Certificate = append(tc.Certificate, cert.Raw)
	}
	tc.PrivateKey = c.LeafKey
	tc.Leaf = c.Leaf
	return tc
}

// ServedPEM is Served() as concatenated PEM blocks.
func (c *Chain) ServedPEM() []byte { return EncodePEM(c.Served()...) }

// RootsPEM is Root (and OldRoot when present) as PEM.
func (c *Chain) RootsPEM() []byte { return EncodePEM(c.Roots()...) }

// LeafPEM is the leaf certificate alone.
func (c *Chain) LeafPEM() []byte { return EncodePEM(c.Leaf) }

// IntermediatesPEM is what follows the leaf in Served(): the intermediate
// and the cross-signed root (openssl s_server's -cert_chain file).
func (c *Chain) IntermediatesPEM() []byte { return EncodePEM(c.Served()[1:]...) }

// LeafKeyPEM is the leaf's private key, PKCS#8 "PRIVATE KEY".
func (c *Chain) LeafKeyPEM() ([]byte, error) { return KeyPEM(c.LeafKey) }

// RootPool is a pool of Roots().
func (c *Chain) RootPool() *x509.CertPool { return Pool(c.Roots()...) }

// IntermediatePool is a pool of the served certificates after the leaf.
func (c *Chain) IntermediatePool() *x509.CertPool { return Pool(c.Served()[1:]...) }

// CA is a generic self-signed lab CA (ECDSA P-256) for the simulated
// Managers' HTTPS APIs.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	now  func() time.Time
}

// NewCA makes a root CA with CN=name, O=smcfleet lab.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	tmpl := caTemplate(pkix.Name{Organization: []string{"smcfleet lab"}, CommonName: name},
		t0.Add(-24*time.Hour), t0.AddDate(10, 0, 0), -1)
	cert, err := create(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("labca: CA %q: %w", name, err)
	}
	return &CA{Cert: cert, Key: key, now: time.Now}, nil
}

// Issue makes a server (and client) certificate with an ECDSA P-256 key,
// valid for one year, for cn plus the given SANs. The returned
// tls.Certificate holds the leaf only (the CA is the trust anchor) and has
// Leaf set.
func (ca *CA) Issue(cn string, dnsNames []string, ips []net.IP) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	t0 := ca.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"smcfleet lab"}, CommonName: cn},
		DNSNames:              append([]string(nil), dnsNames...),
		IPAddresses:           append([]net.IP(nil), ips...),
		NotBefore:             t0.Add(-time.Hour),
		NotAfter:              t0.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	cert, err := create(tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("labca: issue %q: %w", cn, err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// PEM is the CA certificate as PEM.
func (ca *CA) PEM() []byte { return EncodePEM(ca.Cert) }

// Pool is a pool holding the CA certificate.
func (ca *CA) Pool() *x509.CertPool { return Pool(ca.Cert) }

// EncodePEM encodes certificates as concatenated "CERTIFICATE" blocks.
func EncodePEM(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		if c == nil {
			continue
		}
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// KeyPEM encodes a private key as PKCS#8 "PRIVATE KEY".
func KeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Pool makes a CertPool of the given certificates.
func Pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		if c != nil {
			p.AddCert(c)
		}
	}
	return p
}

// WritePEM writes the certificates as PEM to path atomically (a temporary
// file in the same directory, synced, then renamed), mode 0644.
func WritePEM(path string, certs ...*x509.Certificate) error {
	if len(certs) == 0 {
		return errors.New("labca: WritePEM: no certificate")
	}
	return WriteFileAtomic(path, EncodePEM(certs...), 0o644)
}

// WriteKeyPEM writes a private key (PKCS#8 PEM) to path atomically, mode 0600.
func WriteKeyPEM(path string, key crypto.Signer) error {
	b, err := KeyPEM(key)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, b, 0o600)
}

// WriteFileAtomic writes data to a temporary file next to path, syncs it
// and renames it over path.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	return atomicfile.WriteFile(path, data, mode)
}

// rsaKeys generates n RSA 2048 keys in parallel.
func rsaKeys(n int) ([]crypto.Signer, error) {
	keys := make([]crypto.Signer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			keys[i], errs[i] = k, err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("labca: generating keys: %w", err)
	}
	return keys, nil
}

func caTemplate(subject pkix.Name, notBefore, notAfter time.Time, maxPathLen int) *x509.Certificate {
	t := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if maxPathLen >= 0 {
		t.MaxPathLen = maxPathLen
		t.MaxPathLenZero = maxPathLen == 0
	}
	return t
}

// create signs tmpl with signer as parent. For CA templates without a
// SubjectKeyId, crypto/x509 fills it from the public key (SHA-1, RFC 5280
// method 1), so Root and its cross-signed twin share it.
func create(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}
