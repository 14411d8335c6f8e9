package sesauth

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smcfleet/smcfleet/internal/lab/labca"
	"github.com/smcfleet/smcfleet/internal/lab/ses"
)

const (
	testUser     = "AKIALABTESTUSER"
	testPassword = "BLabTestPassword0123456789"
	testEndpoint = "email-smtp.us-east-1.amazonaws.com"
)

type fixture struct {
	srv   *ses.Server
	chain *labca.Chain
}

// chains are made once: RSA key generation dominates the tests' time.
var chains = sync.OnceValues(func() ([2]*labca.Chain, error) {
	served, err := labca.NewSESChain(labca.Options{Region: "us-east-1", CrossSigned: true})
	if err != nil {
		return [2]*labca.Chain{}, err
	}
	other, err := labca.NewSESChain(labca.Options{Region: "us-east-1"})
	return [2]*labca.Chain{served, other}, err
})

func startSES(t *testing.T, sandbox bool) *fixture {
	t.Helper()
	cs, err := chains()
	if err != nil {
		t.Fatal(err)
	}
	chain := cs[0]
	srv, err := ses.Start(ses.Options{
		Chain:           chain,
		Users:           map[string]string{testUser: testPassword},
		VerifiedDomains: []string{"lab.example"},
		Sandbox:         sandbox,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &fixture{srv: srv, chain: chain}
}

// dial maps the SES name to the simulated server, as the Managers'
// /etc/hosts does; nothing ever resolves a real name.
func (f *fixture) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != testEndpoint {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}
	to := "127.0.0.1:1" // closed: refused
	switch port {
	case "25", "587", "2587":
		to = f.srv.STARTTLSAddr()
	case "465", "2465":
		to = f.srv.SMTPSAddr()
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

func (f *fixture) options(port string) Options {
	implicit := port == "465" || port == "2465"
	return Options{
		Addr:        net.JoinHostPort(testEndpoint, port),
		ImplicitTLS: implicit,
		RootCAs:     f.chain.RootPool(),
		Username:    testUser,
		Password:    testPassword,
		From:        "alerts@lab.example",
		To:          []string{"soc@lab.example"},
		Dial:        f.dial,
	}
}

func send(t *testing.T, o Options) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := Send(ctx, o)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if strings.Contains(r.Reply+r.Detail+r.Fix, o.Password) {
		t.Fatalf("the result shows the password: %+v", r)
	}
	return r
}

func TestSESSendDelivered(t *testing.T) {
	f := startSES(t, false)
	for _, tt := range []struct{ port, listener string }{
		{"587", "starttls"}, {"25", "starttls"}, {"2587", "starttls"}, {"465", "smtps"}, {"2465", "smtps"},
	} {
		r := send(t, f.options(tt.port))
		if !r.OK || r.Class != Delivered || r.MessageID == "" {
			t.Fatalf("port %s: got %+v, want delivered", tt.port, r)
		}
		msgs := f.srv.Messages()
		m := msgs[len(msgs)-1]
		if m.ID != r.MessageID || m.Listener != tt.listener || m.ServerName != testEndpoint || m.AuthUser != testUser ||
			m.From != "alerts@lab.example" || len(m.To) != 1 || m.To[0] != "soc@lab.example" {
			t.Errorf("port %s: the server got %+v; result %+v", tt.port, m, r)
		}
		if got := r.Summary(); got != "delivered: "+m.ID {
			t.Errorf("port %s: Summary: got %q", tt.port, got)
		}
		if !strings.Contains(string(m.Data), "Subject: smcfleet SES test message\r\n") {
			t.Errorf("port %s: message: %q", tt.port, m.Data)
		}
	}
}

func TestSESSendClassified(t *testing.T) {
	f := startSES(t, false)
	cs, _ := chains()
	other := cs[1]
	tests := []struct {
		name    string
		port    string
		edit    func(*Options)
		class   Class
		reply   string // prefix
		summary string // prefix
	}{
		{"unverified From", "587", func(o *Options) { o.From = "alerts@unverified.example" },
			UnverifiedIdentity, ses.ReplyNotVerifiedStart + "US-EAST-1: alerts@unverified.example",
			"unverified identity: use a From address in an SES verified domain"},
		{"unverified From, SMTPS", "465", func(o *Options) { o.From = "Alerts <alerts@unverified.example>" },
			UnverifiedIdentity, "554 Message rejected", "unverified identity: " + FixUnverifiedFrom},
		{"bad password", "587", func(o *Options) { o.Password = "wrong" },
			Credentials, ses.ReplyAuthInvalid, "credentials: create new SES SMTP credentials (smcfleet ses smtp-password derives the password from an IAM key)"},
		{"unknown user, SMTPS", "2465", func(o *Options) { o.Username = "AKIAOTHER" },
			Credentials, ses.ReplyAuthInvalid, "credentials: "},
		{"other roots", "587", func(o *Options) { o.RootCAs = other.RootPool() },
			UntrustedChain, "tls: failed to verify certificate: x509: certificate signed by unknown authority",
			"untrusted chain: the certificate chain does not verify against the trust anchors; add the SES chain to the trust store (smcfleet certs fetch / the ses-smtp playbook)"},
		{"other roots, SMTPS", "465", func(o *Options) { o.RootCAs = other.RootPool() },
			UntrustedChain, "tls: failed to verify certificate: x509", "untrusted chain: "},
		{"wrong name", "587", func(o *Options) { o.ServerName = "email-smtp.eu-west-1.amazonaws.com" },
			Handshake, "tls: failed to verify certificate: x509: certificate is valid for email-smtp.us-east-1.amazonaws.com",
			"handshake: the certificate is not valid for email-smtp.eu-west-1.amazonaws.com"},
		{"implicit TLS on a STARTTLS port", "587", func(o *Options) { o.ImplicitTLS = true },
			Handshake, "tls: first record does not look like a TLS handshake", "handshake: the server did not answer TLS"},
		{"refused", "2999", nil, Unreachable, "dial tcp 127.0.0.1:1: connect: connection refused", "unreachable: check the endpoint name"},
		{"unresolvable", "587", func(o *Options) { o.Addr = "email-smtp.nowhere.invalid:587" },
			Unreachable, "dial tcp: lookup email-smtp.nowhere.invalid: no such host", "unreachable: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.options(tt.port)
			if tt.edit != nil {
				tt.edit(&o)
			}
			before := len(f.srv.Messages())
			r := send(t, o)
			if r.OK || r.Class != tt.class || !strings.HasPrefix(r.Reply, tt.reply) || !strings.HasPrefix(r.Summary(), tt.summary) || r.MessageID != "" {
				t.Errorf("got %+v (summary %q), want class %s, reply %q…, summary %q…", r, r.Summary(), tt.class, tt.reply, tt.summary)
			}
			if r.Detail == "" || r.Fix == "" {
				t.Errorf("no detail or fix: %+v", r)
			}
			if n := len(f.srv.Messages()); n != before {
				t.Errorf("the server stored %d messages", n-before)
			}
		})
	}
}

func TestSESSendSandbox(t *testing.T) {
	f := startSES(t, true)
	o := f.options("587")
	o.To = []string{"someone@elsewhere.example"}
	r := send(t, o)
	if r.Class != UnverifiedIdentity || r.Fix != FixSandboxTo {
		t.Errorf("got %+v, want the sandbox fix", r)
	}
}

// TestSESSendTimeout: STARTTLS against the implicit-TLS port waits for a
// greeting that never comes (the server waits for a ClientHello).
func TestSESSendTimeout(t *testing.T) {
	f := startSES(t, false)
	o := f.options("465")
	o.ImplicitTLS = false
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r, err := Send(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Class != Timeout || !strings.Contains(r.Detail, "greeting") {
		t.Errorf("got %+v, want a timeout at the greeting", r)
	}
}

// fakeSMTP serves one connection with a script: it sends each reply after
// reading one line (the first without reading), then closes.
func fakeSMTP(t *testing.T, replies ...string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for i, r := range replies {
			if i > 0 {
				if _, err := br.ReadString('\n'); err != nil {
					return
				}
			}
			c.Write([]byte(r))
		}
	}()
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, ln.Addr().String())
	}
}

func TestSESSendSTARTTLSRefused(t *testing.T) {
	f := startSES(t, false)
	tests := []struct {
		name    string
		replies []string
		class   Class
		detail  string
	}{
		{"not offered", []string{"220 smtp.example ESMTP\r\n", "250-smtp.example\r\n250 AUTH PLAIN\r\n"}, StartTLSRefused, "EHLO does not offer STARTTLS"},
		{"refused", []string{"220 smtp.example ESMTP\r\n", "250-smtp.example\r\n250 STARTTLS\r\n", "454 TLS not available due to temporary reason\r\n"},
			StartTLSRefused, "STARTTLS answered 454 TLS not available"},
		{"injected", []string{"220 smtp.example ESMTP\r\n", "250-smtp.example\r\n250 STARTTLS\r\n", "220 Ready\r\n250 injected\r\n"},
			Protocol, "the server sent data before the TLS handshake"},
		{"closed", []string{"220 smtp.example ESMTP\r\n"}, Protocol, "EHLO: the server closed the connection"},
		{"not SMTP", []string{"HTTP/1.1 400 Bad Request\r\n"}, Protocol, "greeting: not an SMTP reply"},
		{"busy", []string{"421 Too many connections\r\n"}, Rejected, "greeting: 421 Too many connections"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.options("587")
			o.Dial = fakeSMTP(t, tt.replies...)
			r := send(t, o)
			if r.Class != tt.class || !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("got %+v, want class %s, detail containing %q", r, tt.class, tt.detail)
			}
		})
	}
}

func TestSESSendOptions(t *testing.T) {
	f := startSES(t, false)
	for _, edit := range []func(*Options){
		func(o *Options) { o.Dial = nil },
		func(o *Options) { o.Addr = "no-port" },
		func(o *Options) { o.Username = "" },
		func(o *Options) { o.Password = "" },
		func(o *Options) { o.From = "not an address" },
		func(o *Options) { o.From = "a@b.example\r\nRCPT TO:<x@y>" },
		func(o *Options) { o.To = nil },
		func(o *Options) { o.To = []string{"ok@lab.example", "bad"} },
		func(o *Options) { o.Subject = "two\r\nBcc: x@y" },
	} {
		o := f.options("587")
		edit(&o)
		if r, err := Send(context.Background(), o); err == nil {
			t.Errorf("%+v: no error (result %+v)", o, r)
		}
	}
	if len(f.srv.Messages()) != 0 {
		t.Error("a message was sent")
	}
}

func TestSESPortMode(t *testing.T) {
	for port, want := range map[int]bool{25: false, 587: false, 2587: false, 465: true, 2465: true} {
		if got, err := PortMode(port); err != nil || got != want {
			t.Errorf("PortMode(%d): got %v, %v; want %v", port, got, err, want)
		}
	}
	for _, port := range []int{0, 80, 443, 2525, 65536} {
		if _, err := PortMode(port); err == nil {
			t.Errorf("PortMode(%d): no error", port)
		}
	}
}
