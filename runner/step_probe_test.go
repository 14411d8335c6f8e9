package runner

import (
	"strings"
	"testing"
)

// Outputs as OpenSSL 3.0 prints them (trimmed).
const (
	dheOut = `CONNECTED(00000003)
---
Certificate chain
 0 s:CN = email-smtp.us-east-2.amazonaws.com
---
No client certificate CA names sent
Peer signing digest: SHA256
Peer signature type: RSA-PSS
Server Temp Key: DH, 1024 bits
---
SSL handshake has read 5404 bytes and written 335 bytes
New, TLSv1.2, Cipher is DHE-RSA-AES256-GCM-SHA384
`
	defaultOut = `CONNECTED(00000003)
Server Temp Key: ECDH, prime256v1, 256 bits
---
New, TLSv1.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256
SSL-Session:
    Protocol  : TLSv1.2
    Cipher    : ECDHE-RSA-AES128-GCM-SHA256
`
	refusedOut = `CONNECTED(00000003)
40F7D1C4C67F0000:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:../ssl/record/rec_layer_s3.c:1584:SSL alert number 40
---
no peer certificate available
---
New, (NONE), Cipher is (NONE)
`
	tls13Out = `CONNECTED(00000003)
Peer Temp Key: X25519, 253 bits
---
New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384
`
)

func TestParseProbe(t *testing.T) {
	tests := []struct {
		name          string
		dhe, def      string
		wantOffered   bool
		wantBits      int
		wantKey       string
		wantProtocol  string
		wantCipherSub string
	}{
		{"legacy DHE", dheOut, defaultOut, true, 1024, "ECDH, prime256v1, 256 bits", "TLSv1.2", "ECDHE-RSA-AES128"},
		{"DHE refused", refusedOut, defaultOut, false, 0, "ECDH, prime256v1, 256 bits", "TLSv1.2", "ECDHE"},
		{"TLS 1.3 default, newer OpenSSL wording", refusedOut, tls13Out, false, 0, "X25519, 253 bits", "TLSv1.3", "TLS_AES_256"},
	}
	for _, tt := range tests {
		got := ParseProbe(tt.dhe, tt.def)
		if got.DHEOffered != tt.wantOffered || got.DHBits != tt.wantBits || got.DefaultTempKey != tt.wantKey ||
			got.DefaultProtocol != tt.wantProtocol || !strings.Contains(got.DefaultCipher, tt.wantCipherSub) {
			t.Errorf("%s: got %+v, want offered=%v bits=%d key=%q protocol=%q cipher~%q",
				tt.name, got, tt.wantOffered, tt.wantBits, tt.wantKey, tt.wantProtocol, tt.wantCipherSub)
		}
	}
}

func TestOpenSSLFailure(t *testing.T) {
	ep := endpointSpec{endpoint: "email-smtp.us-east-1.amazonaws.com:587", host: "email-smtp.us-east-1.amazonaws.com"}
	tests := []struct {
		code int
		out  string
		want string // "" = no failure
	}{
		{127, "bash: openssl: command not found\n", "openssl is not installed on the host"},
		{1, "40C7:error:10080002:BIO routines:BIO_lookup_ex:system lib:../crypto/bio/bio_addr.c:738:Name or service not known\nconnect:errno=0\n", "does not resolve on the host"},
		{1, "40E7:error:8000006F:system library:BIO_connect:Connection refused:../crypto/bio/bio_sock2.c:114:calling connect()\nconnect:errno=111\n", "unreachable from the host"},
		{1, "CONNECTED(00000003)\nDidn't find STARTTLS in server response, trying anyway...\n", "refused STARTTLS"},
		{0, dheOut, ""},
	}
	for _, tt := range tests {
		err := opensslFailure(tt.code, []byte(tt.out), ep)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: got %v, want no failure", tt.out, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: got %v, want %q", tt.out, err, tt.want)
		}
	}
}
