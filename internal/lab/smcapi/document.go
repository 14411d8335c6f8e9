package smcapi

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Document keys from smc-api.md ("Trust store (seen in Cisco public code)").
const (
	KeyConfigurableElements = "configurableElements"
	KeyTrustStore           = "trustStore"
	KeyTrustedCertificates  = "trustedCertificates"
	KeyFriendlyName         = "friendlyName"
	KeyCertificate          = "certificate"
	KeyContent              = "content"

	// FriendlyNamePattern is what smc-api.md and Cisco's script allow.
	FriendlyNamePattern = `^[a-zA-Z0-9._-]+$`
)

// SMTP keys: THE SIMULATOR'S ASSUMPTION. smc-api.md, "SMTP configuration
// (NOT verified anywhere public)": no public source names the key, the
// field names, or how the stored password is returned. Everything below is
// invented for the lab; a real Manager may differ on every point, and a
// client must take these names from configuration, not from this package.
const (
	// SMTPKeyPath is where the simulator keeps the SMTP settings.
	SMTPKeyPath = KeyConfigurableElements + "." + SMTPElement
	SMTPElement = "smtp"

	SMTPFieldServer     = "server"
	SMTPFieldPort       = "port"
	SMTPFieldFromEmail  = "fromEmail"
	SMTPFieldUserName   = "userName"
	SMTPFieldPassword   = "password"
	SMTPFieldEncryption = "encryption"

	// Encryption values, after the UI's "Encryption Type" (procedure.md §2).
	EncryptionSTARTTLS = "STARTTLS"
	EncryptionSMTPS    = "SMTPS"
	EncryptionNone     = "NONE"

	// PasswordMask replaces a stored non-empty SMTP password in every GET.
	// A PUT carrying exactly this value keeps the stored password, so a
	// client can GET-modify-PUT without knowing it.
	PasswordMask = "********"

	// SMTPAssumption is the sentence the README quotes.
	SMTPAssumption = "The lab Manager keeps SMTP settings under " + SMTPKeyPath +
		` with fields "server", "port", "fromEmail", "userName", "password" and "encryption" ` +
		`("STARTTLS", "SMTPS" or "NONE"), and returns a stored password as "` + PasswordMask +
		`". These names are the simulator's invention: no public source documents the real keys.`
)

var friendlyNameRE = regexp.MustCompile(FriendlyNamePattern)

// Seeded trust-store entries. They stand for what a real Manager already
// trusts (its appliance identity CA and a corporate root); a careful client
// adds next to them and never removes them.
const (
	SeedIdentityCAName  = "appliance-identity-ca"
	SeedCorporateCAName = "corporate-root-ca"
)

// seedDocument builds the initial document. Only configurableElements.trustStore follows
// smc-api.md; "applianceId", "dnsServers", "ntpServers",
// "syslogForwarding" and "smtp" are the simulator's inventions (see the
// package documentation).
func seedDocument(opts Options) map[string]any {
	now := opts.Now()
	var entries []any
	for _, c := range []struct{ name, cn string }{
		{SeedIdentityCAName, opts.FQDN + " Appliance Identity CA"},
		{SeedCorporateCAName, "Lab Corporate Root CA"},
	} {
		cert := selfSignedCA(c.cn, now)
		p := strings.TrimRightFunc(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})), unicode.IsSpace)
		entries = append(entries, map[string]any{
			KeyFriendlyName: c.name,
			KeyCertificate:  certificateObject(cert, p),
		})
	}
	doc := map[string]any{
		"applianceId": opts.ApplianceID,
		KeyConfigurableElements: map[string]any{
			KeyTrustStore: map[string]any{KeyTrustedCertificates: entries},
			// An unconfigured SMTP section, as a fresh Manager would show.
			SMTPElement: map[string]any{
				SMTPFieldServer:     "",
				SMTPFieldPort:       json.Number("25"),
				SMTPFieldFromEmail:  "",
				SMTPFieldUserName:   "",
				SMTPFieldPassword:   "",
				SMTPFieldEncryption: EncryptionNone,
			},
			"dnsServers": []any{"192.0.2.53", "192.0.2.54"},
			"ntpServers": []any{"198.51.100.123"},
			"syslogForwarding": map[string]any{
				"enabled":      false,
				"destinations": []any{map[string]any{"address": "203.0.113.10", "port": json.Number("514"), "protocol": "UDP"}},
			},
		},
	}
	return doc
}

// selfSignedCA makes a throw-away CA certificate; its key is discarded
// because nothing in the lab signs with it.
func selfSignedCA(cn string, now time.Time) *x509.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("smcapi: generate seed key: " + err.Error())
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"smcfleet lab"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic("smcapi: create seed certificate: " + err.Error())
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic("smcapi: parse seed certificate: " + err.Error())
	}
	return cert
}

// certificateObject is the object staging returns and the trust store
// holds. smc-api.md names only "content"; the other fields and their
// formats are the SIMULATOR'S ASSUMPTION (see the package documentation).
func certificateObject(cert *x509.Certificate, content string) map[string]any {
	return map[string]any{
		KeyContent:     content,
		"subject":      cert.Subject.String(),
		"issuer":       cert.Issuer.String(),
		"serialNumber": cert.SerialNumber.String(),
		"notBefore":    cert.NotBefore.UTC().Format(time.RFC3339),
		"notAfter":     cert.NotAfter.UTC().Format(time.RFC3339),
	}
}

// parseOneCertificate accepts text holding exactly one PEM CERTIFICATE
// block. Text around it is tolerated (files cut from `openssl s_client
// -showcerts` carry such lines), but a second block of any kind is not:
// smc-api.md says "One certificate per upload", and a private key has no
// business in a trust store.
func parseOneCertificate(text []byte) (*x509.Certificate, error) {
	var blocks []*pem.Block
	rest := text
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	switch {
	case len(blocks) == 0:
		return nil, errors.New("no PEM block found")
	case len(blocks) > 1:
		return nil, fmt.Errorf("%d PEM blocks found; exactly one certificate is allowed", len(blocks))
	case blocks[0].Type != "CERTIFICATE":
		return nil, fmt.Errorf("PEM block is %q, not CERTIFICATE", blocks[0].Type)
	}
	cert, err := x509.ParseCertificate(blocks[0].Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

// decodeDocument parses a JSON object keeping numbers as json.Number, so
// fields the simulator does not understand round-trip exactly.
func decodeDocument(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON document")
	}
	if doc == nil {
		return nil, errors.New("document is not a JSON object")
	}
	return doc, nil
}

// validateDocument checks what smc-api.md says a Manager checks (friendly
// names, one parseable certificate per entry, no duplicate) plus the
// simulator's own strictness about SMTP field types.
func validateDocument(doc map[string]any) error {
	ce, ok := doc[KeyConfigurableElements].(map[string]any)
	if !ok {
		return errors.New(KeyConfigurableElements + " must be an object")
	}
	if raw, present := ce[KeyTrustStore]; present {
		if err := validateTrustStore(raw); err != nil {
			return err
		}
	}
	if raw, present := ce[SMTPElement]; present {
		if err := validateSMTP(raw); err != nil {
			return err
		}
	}
	return nil
}

func validateTrustStore(raw any) error {
	ts, ok := raw.(map[string]any)
	if !ok {
		return errors.New("trustStore must be an object")
	}
	list, ok := ts[KeyTrustedCertificates].([]any)
	if !ok {
		return errors.New("trustStore.trustedCertificates must be an array")
	}
	names := map[string]bool{}
	ders := map[[32]byte]string{}
	for i, e := range list {
		entry, ok := e.(map[string]any)
		if !ok {
			return fmt.Errorf("trustedCertificates[%d] must be an object", i)
		}
		name, _ := entry[KeyFriendlyName].(string)
		if !friendlyNameRE.MatchString(name) {
			return fmt.Errorf("trustedCertificates[%d]: friendlyName %q does not match %s", i, name, FriendlyNamePattern)
		}
		if names[name] {
			return fmt.Errorf("trustedCertificates[%d]: friendlyName %q is already in the trust store", i, name)
		}
		names[name] = true
		certObj, _ := entry[KeyCertificate].(map[string]any)
		content, _ := certObj[KeyContent].(string)
		cert, err := parseOneCertificate([]byte(content))
		if err != nil {
			return fmt.Errorf("trustedCertificates[%d] (%s): certificate.content: %w", i, name, err)
		}
		sum := sha256.Sum256(cert.Raw)
		if other, dup := ders[sum]; dup {
			return fmt.Errorf("trustedCertificates[%d] (%s): same certificate as %q", i, name, other)
		}
		ders[sum] = name
	}
	return nil
}

func validateSMTP(raw any) error {
	m, ok := raw.(map[string]any)
	if !ok {
		return errors.New(SMTPKeyPath + " must be an object")
	}
	for _, k := range []string{SMTPFieldServer, SMTPFieldFromEmail, SMTPFieldUserName, SMTPFieldPassword, SMTPFieldEncryption} {
		if v, present := m[k]; present {
			if _, isString := v.(string); !isString {
				return fmt.Errorf("%s.%s must be a string", SMTPKeyPath, k)
			}
		}
	}
	if v, present := m[SMTPFieldPort]; present {
		if p, ok := intOf(v); !ok || p < 1 || p > 65535 {
			return fmt.Errorf("%s.%s must be an integer 1-65535", SMTPKeyPath, SMTPFieldPort)
		}
	}
	if v, present := m[SMTPFieldEncryption]; present {
		if !slices.Contains([]string{EncryptionSTARTTLS, EncryptionSMTPS, EncryptionNone}, v.(string)) {
			return fmt.Errorf("%s.%s must be %s, %s or %s", SMTPKeyPath, SMTPFieldEncryption, EncryptionSTARTTLS, EncryptionSMTPS, EncryptionNone)
		}
	}
	return nil
}

func intOf(v any) (int, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	case float64:
		return int(n), n == float64(int(n))
	case int:
		return n, true
	}
	return 0, false
}

// missingKeys lists top-level and configurableElements keys of old that
// next lacks. The simulator refuses such a PUT (its assumption): the PUT
// must carry the whole document, and silently losing settings a client
// did not understand is exactly the bug the lab should catch.
func missingKeys(old, next map[string]any) []string {
	var missing []string
	for k := range old {
		if _, ok := next[k]; !ok {
			missing = append(missing, k)
		}
	}
	oldCE, _ := old[KeyConfigurableElements].(map[string]any)
	nextCE, ok := next[KeyConfigurableElements].(map[string]any)
	if ok {
		for k := range oldCE {
			if _, ok := nextCE[k]; !ok {
				missing = append(missing, KeyConfigurableElements+"."+k)
			}
		}
	}
	slices.Sort(missing)
	return missing
}

func smtpSection(doc map[string]any) (map[string]any, bool) {
	ce, _ := doc[KeyConfigurableElements].(map[string]any)
	m, ok := ce[SMTPElement].(map[string]any)
	return m, ok
}

// maskedCopy is what GET returns: the stored document with a non-empty
// SMTP password replaced by PasswordMask (the simulator's choice). An empty
// password stays empty, so a client can tell "none set" from "set".
func maskedCopy(doc map[string]any) map[string]any {
	c := deepCopyMap(doc)
	if m, ok := smtpSection(c); ok {
		if p, _ := m[SMTPFieldPassword].(string); p != "" {
			m[SMTPFieldPassword] = PasswordMask
		}
	}
	return c
}

// unmaskPassword puts the stored password back where a PUT echoes the mask.
func unmaskPassword(next, stored map[string]any) {
	m, ok := smtpSection(next)
	if !ok {
		return
	}
	if p, _ := m[SMTPFieldPassword].(string); p != PasswordMask {
		return
	}
	old := ""
	if sm, ok := smtpSection(stored); ok {
		old, _ = sm[SMTPFieldPassword].(string)
	}
	m[SMTPFieldPassword] = old
}

func smtpSettings(doc map[string]any) SMTPSettings {
	m, ok := smtpSection(doc)
	if !ok {
		return SMTPSettings{}
	}
	str := func(k string) string { v, _ := m[k].(string); return v }
	port, _ := intOf(m[SMTPFieldPort])
	return SMTPSettings{
		Server:     str(SMTPFieldServer),
		Port:       port,
		FromEmail:  str(SMTPFieldFromEmail),
		UserName:   str(SMTPFieldUserName),
		Password:   str(SMTPFieldPassword),
		Encryption: str(SMTPFieldEncryption),
	}
}

func trustedCertificates(doc map[string]any) []*x509.Certificate {
	ce, _ := doc[KeyConfigurableElements].(map[string]any)
	ts, _ := ce[KeyTrustStore].(map[string]any)
	list, _ := ts[KeyTrustedCertificates].([]any)
	var certs []*x509.Certificate
	for _, e := range list {
		entry, _ := e.(map[string]any)
		certObj, _ := entry[KeyCertificate].(map[string]any)
		content, _ := certObj[KeyContent].(string)
		// Every stored entry passed validateDocument, so this parses.
		if cert, err := parseOneCertificate([]byte(content)); err == nil {
			certs = append(certs, cert)
		}
	}
	return certs
}

// etagOf is a strong ETag over the stored document. encoding/json sorts
// map keys, so equal documents give equal tags.
func etagOf(doc map[string]any) string {
	b, err := json.Marshal(doc)
	if err != nil {
		panic("smcapi: marshal document: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = deepCopy(v)
	}
	return c
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return deepCopyMap(x)
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = deepCopy(e)
		}
		return c
	default:
		// strings, bools, nil and json.Number are immutable values.
		return v
	}
}
