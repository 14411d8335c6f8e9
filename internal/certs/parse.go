package certs

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// pemDashes frames PEM boundary lines ("-----BEGIN X-----").
const pemDashes = "-----"

// ParseShowcerts extracts every certificate from `openssl s_client
// -showcerts` output (OpenSSL 1.1 and 3 styles), ignoring all other text:
// the "depth=" and " 0 s:/i:/a:/v:" lines, "---", the "Server certificate"
// section, the SSL-Session dump, SMTP chatter, "DONE", CRLF line ends.
//
// The scanner is line based rather than a loop over pem.Decode because
// pem.Decode silently skips a block it cannot decode and carries on; here a
// truncated capture (the session killed mid-chain) or a corrupted block must
// be reported, since a chain missing a certificate is exactly what makes the
// Manager fail later with "unable to find valid certification path".
//
// Blocks that are not certificates (PRIVATE KEY, SSL SESSION PARAMETERS,
// ...) are ignored. A CERTIFICATE block without END, with bad base64 or with
// bad DER is reported in problems (naming the line it starts on); the
// certificates that did parse are still returned, in input order. Duplicate
// certificates (same DER: OpenSSL 1.0 printed the leaf twice, and captures
// are often concatenated) are kept once.
func ParseShowcerts(out []byte) (certs []*x509.Certificate, problems []string) {
	var (
		inBlock   bool
		blockType string
		startLine int
		body      strings.Builder
		seen      = map[[sha256.Size]byte]bool{}
	)
	finish := func() {
		der, err := base64.StdEncoding.DecodeString(body.String())
		body.Reset()
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %s block: bad base64: %v", startLine, blockType, err))
			return
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %s block: not a valid certificate: %v", startLine, blockType, err))
			return
		}
		sum := sha256.Sum256(c.Raw)
		if seen[sum] {
			return
		}
		seen[sum] = true
		certs = append(certs, c)
	}

	// bytes.Split rather than bufio.Scanner: no line-length limit to trip
	// over on a pathological capture.
	for i, raw := range bytes.Split(out, []byte("\n")) {
		lineNo := i + 1
		line := strings.TrimSpace(string(raw)) // also drops the \r of CRLF
		if typ, ok := boundary(line, "BEGIN "); ok {
			if inBlock && isCertType(blockType) {
				problems = append(problems, fmt.Sprintf("line %d: %s block has no END line (interrupted by BEGIN %s at line %d)", startLine, blockType, typ, lineNo))
			}
			inBlock, blockType, startLine = true, typ, lineNo
			body.Reset()
			continue
		}
		if !inBlock {
			continue
		}
		if typ, ok := boundary(line, "END "); ok {
			if isCertType(blockType) {
				if typ != blockType {
					problems = append(problems, fmt.Sprintf("line %d: %s block ends with END %s at line %d", startLine, blockType, typ, lineNo))
					body.Reset()
				} else {
					finish()
				}
			}
			inBlock = false
			body.Reset()
			continue
		}
		if !isCertType(blockType) {
			continue // nothing of a non-certificate block is kept
		}
		// RFC 1421 headers ("Proc-Type: ...") never occur in certificates,
		// but base64 has no ':' so skipping such lines is safe.
		if line == "" || strings.Contains(line, ":") {
			continue
		}
		body.WriteString(strings.Join(strings.Fields(line), ""))
	}
	if inBlock && isCertType(blockType) {
		problems = append(problems, fmt.Sprintf("line %d: %s block has no END line (truncated output?)", startLine, blockType))
	}
	return certs, problems
}

// boundary recognises "-----BEGIN X-----" / "-----END X-----" and returns X.
func boundary(line, kind string) (string, bool) {
	if !strings.HasPrefix(line, pemDashes+kind) || !strings.HasSuffix(line, pemDashes) {
		return "", false
	}
	rest := line[len(pemDashes)+len(kind):]
	if len(rest) < len(pemDashes) {
		return "", false // "-----BEGIN -----" overlapping dashes
	}
	return strings.TrimSpace(rest[:len(rest)-len(pemDashes)]), true
}

// isCertType: the block types that hold a bare DER certificate. s_client
// prints "CERTIFICATE"; "X509 CERTIFICATE" is the old OpenSSL alias.
// ("TRUSTED CERTIFICATE" carries trailing auxiliary data that
// x509.ParseCertificate rejects, and s_client never prints it.)
func isCertType(t string) bool {
	return t == "CERTIFICATE" || t == "X509 CERTIFICATE"
}
