package certs

import (
	"crypto/x509"
	"strings"
	"testing"
)

func sameCerts(t *testing.T, what string, got, want []*x509.Certificate) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d certificates %v, want %d %v", what, len(got), cns(got), len(want), cns(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("%s: certificate %d is %v, want %v", what, i, cns(got[i:i+1]), cns(want[i:i+1]))
		}
	}
}

func TestParseShowcertsStyles(t *testing.T) {
	f := aws(t)
	served := f.servedChain()
	for _, tt := range []struct{ name, out string }{
		{"openssl3", showcerts3(served)},
		{"openssl3 CRLF", crlf(showcerts3(served))},
		{"openssl1.1 leaf twice", showcerts11(served)},
		{"openssl1.1 CRLF", crlf(showcerts11(served))},
		{"two captures concatenated", showcerts3(served) + showcerts11(served)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := ParseShowcerts([]byte(tt.out))
			if len(problems) != 0 {
				t.Errorf("problems: %q", problems)
			}
			sameCerts(t, tt.name, got, served)
		})
	}
	// The OpenSSL 3 rendering carries what the brief asks for; make sure
	// the test data is as realistic as claimed.
	out := showcerts3(served)
	for _, want := range []string{
		"depth=2 C = US, O = Amazon, CN = Amazon Root CA 1",
		" 0 s:CN = " + testHost,
		"   i:C = US, O = Amazon, CN = Amazon RSA 2048 M02",
		`C = US, ST = Arizona, L = Scottsdale, O = "Starfield Technologies, Inc.", CN = Starfield Services Root Certificate Authority - G2`,
		"a:PKEY: rsaEncryption", "v:NotBefore: ", "Server certificate", "250 Ok", "DONE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("showcerts3 output lacks %q", want)
		}
	}
	if out11 := showcerts11(served); !strings.Contains(out11, " 0 s:/CN="+testHost) || !strings.Contains(out11, "i:/C=US/O=Amazon/CN=Amazon RSA 2048 M02") {
		t.Errorf("showcerts11 output is not in the 1.1 style:\n%s", out11)
	}
}

func TestParseShowcertsBroken(t *testing.T) {
	f := aws(t)
	served := f.servedChain()
	full := showcerts3(served)
	lastPEM := pemOf(served[3])

	// Cut in the middle of the last certificate, as a killed session does.
	cut := strings.Index(full, lastPEM) + len(lastPEM)/2
	truncated := full[:cut]

	// Same, but the capture carries on (another BEGIN) after the cut.
	interrupted := truncated + "\n" + pemOf(served[0])

	badB64 := strings.Replace(full, pemOf(served[1]),
		"-----BEGIN CERTIFICATE-----\nMIIF!!!!not*base64@@@@\n-----END CERTIFICATE-----\n", 1)
	badDER := strings.Replace(full, pemOf(served[1]),
		"-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n", 1)
	mismatchedEnd := strings.Replace(full, pemOf(served[1]),
		strings.Replace(pemOf(served[1]), "END CERTIFICATE", "END X509 CRL", 1), 1)
	// A non-certificate block, even a broken one, is none of our business.
	// (Placeholder text, not a key.)
	withKey := "-----BEGIN PRIVATE KEY-----\nTk9UIEEgS0VZ!!\n-----END PRIVATE KEY-----\n" + full +
		"-----BEGIN SSL SESSION PARAMETERS-----\nMFUCAQECAgMDBALAL\n"

	tests := []struct {
		name     string
		in       string
		want     []*x509.Certificate
		problems []string // substrings, in order
	}{
		{"truncated final PEM", truncated, served[:3], []string{"CERTIFICATE block has no END line (truncated output?)"}},
		{"truncated CRLF", crlf(truncated), served[:3], []string{"no END line"}},
		{"interrupted block", interrupted, served[:3], []string{"no END line (interrupted by BEGIN CERTIFICATE"}},
		{"bad base64", badB64, []*x509.Certificate{served[0], served[2], served[3]}, []string{"bad base64"}},
		{"bad DER", badDER, []*x509.Certificate{served[0], served[2], served[3]}, []string{"not a valid certificate"}},
		{"mismatched END", mismatchedEnd, []*x509.Certificate{served[0], served[2], served[3]}, []string{"ends with END X509 CRL"}},
		{"private key and session blocks ignored", withKey, served, nil},
		{"noise only", "CONNECTED(00000003)\r\n---\r\nno peer certificate available\r\n---\r\n250 Ok\r\nDONE\r\n", nil, nil},
		{"empty", "", nil, nil},
		{"only dashes", "-----\n----------\n-----BEGIN -----\n-----END-----\n", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := ParseShowcerts([]byte(tt.in))
			sameCerts(t, tt.name, got, tt.want)
			if len(problems) != len(tt.problems) {
				t.Fatalf("problems: got %q, want %q", problems, tt.problems)
			}
			for i := range problems {
				if !strings.Contains(problems[i], tt.problems[i]) || !strings.HasPrefix(problems[i], "line ") {
					t.Errorf("problem %d: got %q, want it to contain %q", i, problems[i], tt.problems[i])
				}
			}
		})
	}
}
