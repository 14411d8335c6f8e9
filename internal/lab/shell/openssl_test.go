package shell

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const sesName = "email-smtp.us-east-1.amazonaws.com"

// tlsServer serves TLS on loopback with a self-signed certificate for
// sesName and records the SNI names it sees.
type tlsServer struct {
	addr    string
	certPEM []byte
	mu      sync.Mutex
	sni     []string
}

func (s *tlsServer) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sni...)
}

func startTLSServer(t *testing.T) *tlsServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: sesName},
		DNSNames:     []string{sesName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := &tlsServer{certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	cfg := &tls.Config{
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			srv.mu.Lock()
			srv.sni = append(srv.sni, hello.ServerName)
			srv.mu.Unlock()
			return &cert, nil
		},
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.addr = ln.Addr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				if err := conn.(*tls.Conn).Handshake(); err != nil {
					return
				}
				buf := make([]byte, 512)
				conn.Read(buf) // until the client says Q or closes
			}()
		}
	}()
	return srv
}

func opensslShell(t *testing.T, srv *tlsServer) (*Shell, string) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl binary")
	}
	return newShell(t, Config{
		OpenSSL: bin,
		Dial: func(hostport string) (string, bool) {
			host, port, err := net.SplitHostPort(hostport)
			if err != nil || host != sesName || (port != "465" && port != "0") {
				return "", false
			}
			return srv.addr, true
		},
	})
}

func TestOpenSSLClient(t *testing.T) {
	srv := startTLSServer(t)
	s, root := opensslShell(t, srv)

	r := run(t, s, "openssl s_client -showcerts -connect "+sesName+":465 -servername "+sesName+" < /dev/null")
	if r.code != 0 || !strings.Contains(r.out, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("s_client: %+v", r)
	}
	if got := srv.names(); len(got) != 1 || got[0] != sesName {
		t.Errorf("SNI = %q, want %q", got, sesName)
	}

	// Without -servername the name from -connect is still sent, and the
	// procedure's redirections work; relative output lands in /root.
	r = run(t, s, "openssl s_client -showcerts -connect "+sesName+":465 <<< \"Q\" 2>/dev/null > mycertfile.crt; grep -c 'BEGIN CERTIFICATE' mycertfile.crt")
	if r.out != "1\n" {
		t.Fatalf("procedure capture: %+v", r)
	}
	if got := srv.names(); len(got) != 2 || got[1] != sesName {
		t.Errorf("SNI without -servername = %q", got)
	}
	if b, err := os.ReadFile(filepath.Join(root, "root", "mycertfile.crt")); err != nil || !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Errorf("ROOT/root/mycertfile.crt: %v", err)
	}

	// File arguments are mapped into the jail.
	write(t, root, "root/ca.pem", string(srv.certPEM))
	expect(t, s, "openssl x509 -in /root/ca.pem -noout -subject", "subject=CN = "+sesName+"\n", 0)
	expect(t, s, "cd /tmp 2>/dev/null; openssl x509 -noout -subject < ca.pem", "subject=CN = "+sesName+"\n", 0)
	r = run(t, s, "openssl verify -CAfile /root/ca.pem ca.pem")
	if r.code != 0 || r.out != "ca.pem: OK\n" && !strings.HasSuffix(r.out, ": OK\n") {
		t.Errorf("verify: %+v", r)
	}
	r = run(t, s, "openssl s_client -connect "+sesName+":465 -CAfile /root/ca.pem -verify_return_error < /dev/null 2>&1 | grep 'Verify return code'")
	if !strings.Contains(r.out, "Verify return code: 0 (ok)") {
		t.Errorf("verify through -CAfile: %+v", r)
	}
	r = run(t, s, "openssl x509 -in ../../../../../etc/ssl/certs/ca-certificates.crt -noout -subject")
	if r.code == 0 || strings.Contains(r.out, "subject=") {
		t.Errorf("openssl read outside the jail: %+v", r)
	}
	r = run(t, s, "openssl s_client -connect x:1 -proxy 127.0.0.1:1 </dev/null")
	if r.code != 1 || !strings.Contains(r.err, "-proxy") {
		t.Errorf("-proxy: %+v", r)
	}
	r = run(t, s, "openssl s_server -accept 4433")
	if r.code != 1 || !strings.Contains(r.err, "Invalid command 's_server'") {
		t.Errorf("s_server: %+v", r)
	}
}

func TestOpenSSLUnresolvable(t *testing.T) {
	srv := startTLSServer(t)
	s, _ := opensslShell(t, srv)
	r := run(t, s, "openssl s_client -connect email-smtp.nowhere.example:587 -starttls smtp < /dev/null")
	if r.code != 1 || !strings.Contains(r.err, "BIO_lookup_ex") || !strings.Contains(r.err, "Name or service not known") || !strings.Contains(r.err, "connect:errno=") {
		t.Errorf("unresolvable: %+v", r)
	}
	if n := len(srv.names()); n != 0 {
		t.Errorf("server saw %d connections", n)
	}
}

func TestOpenSSLMissing(t *testing.T) {
	s, _ := newShell(t, Config{OpenSSL: filepath.Join(t.TempDir(), "no-openssl")})
	r := run(t, s, "openssl version")
	if r.code != 127 || !strings.Contains(r.err, "openssl: command not found") {
		t.Errorf("missing openssl: %+v", r)
	}
}

func TestOpenSSLCancel(t *testing.T) {
	srv := startTLSServer(t)
	s, _ := opensslShell(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	// Without input redirection s_client waits on stdin, which never ends.
	pr, pw, _ := os.Pipe()
	defer pw.Close()
	defer pr.Close()
	code := s.Exec(ctx, "openssl s_client -connect "+sesName+":465", pr, nil, nil)
	if code != 143 {
		t.Errorf("status = %d, want 143", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v", d)
	}
}
