package ses

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smcfleet/smcfleet/internal/lab/labca"
)

const (
	testUser = "AKIALABEXAMPLE0001"
	testPass = "BLabSecretExampleSmtpPassword0000000000000"
)

var (
	chainOnce sync.Once
	chain     *labca.Chain
	chainErr  error
)

// sharedChain is one us-east-2 chain for the tests that do not need their
// own (RSA key generation dominates the run time under -race).
func sharedChain(t *testing.T) *labca.Chain {
	t.Helper()
	chainOnce.Do(func() {
		chain, chainErr = labca.NewSESChain(labca.Options{Region: "us-east-2", CrossSigned: true})
	})
	if chainErr != nil {
		t.Fatal(chainErr)
	}
	return chain
}

func startServer(t *testing.T, mod func(*Options)) *Server {
	t.Helper()
	opts := Options{
		Chain:           sharedChain(t),
		Users:           map[string]string{testUser: testPass},
		VerifiedDomains: []string{"example.com"},
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func clientTLS(s *Server) *tls.Config {
	return &tls.Config{ServerName: s.EndpointName(), RootCAs: s.Chain().RootPool()}
}

// dialSTARTTLS connects with net/smtp, says EHLO and upgrades with STARTTLS.
func dialSTARTTLS(t *testing.T, s *Server) *smtp.Client {
	t.Helper()
	conn, err := net.Dial("tcp", s.STARTTLSAddr())
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, s.EndpointName())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("smc-01.lab"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not advertised")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Fatal("AUTH advertised before STARTTLS")
	}
	if err := c.StartTLS(clientTLS(s)); err != nil {
		t.Fatal(err)
	}
	return c
}

func send(c *smtp.Client, from string, to []string, body string) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

func smtpCode(t *testing.T, err error) (int, string) {
	t.Helper()
	var te *textproto.Error
	if !errors.As(err, &te) {
		t.Fatalf("want an SMTP error reply, got %v", err)
	}
	return te.Code, te.Msg
}

const body = "From: SNA Manager <smc@example.com>\r\nTo: soc@example.com\r\nSubject: test\r\n\r\nhello\r\n.dot line\r\n"

func TestGreetingAndEHLO(t *testing.T) {
	s := startServer(t, nil)
	conn, err := net.Dial("tcp", s.STARTTLSAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tp := textproto.NewConn(conn)
	_, msg, err := tp.ReadResponse(220)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg, "email-smtp.us-east-2.amazonaws.com ESMTP SimpleEmailService-") {
		t.Fatalf("greeting %q", msg)
	}
	id, _ := tp.Cmd("EHLO x")
	tp.StartResponse(id)
	_, msg, err = tp.ReadResponse(250)
	tp.EndResponse(id)
	if err != nil {
		t.Fatal(err)
	}
	if want := "email-smtp.us-east-2.amazonaws.com\n8BITMIME\nSIZE 10485760\nSTARTTLS\nOk"; msg != want {
		t.Fatalf("EHLO %q want %q", msg, want)
	}
}

func TestSTARTTLSAuthPlainDelivers(t *testing.T) {
	s := startServer(t, nil)
	c := dialSTARTTLS(t, s)
	if ok, params := c.Extension("AUTH"); !ok || params != "PLAIN LOGIN" {
		t.Fatalf("AUTH after TLS: %v %q", ok, params)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Fatal("STARTTLS advertised again after TLS")
	}
	if err := c.Auth(smtp.PlainAuth("", testUser, testPass, s.EndpointName())); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "smc@example.com", []string{"soc@example.com", "noc@other.org"}, body); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.From != "smc@example.com" || len(m.To) != 2 || m.To[1] != "noc@other.org" {
		t.Fatalf("envelope %q %q", m.From, m.To)
	}
	if !strings.Contains(string(m.Data), "\r\n.dot line\r\n") || !strings.HasPrefix(string(m.Data), "From: SNA Manager") {
		t.Fatalf("data %q", m.Data)
	}
	if m.AuthUser != testUser || m.Listener != "starttls" || m.TLSVersion != tls.VersionTLS13 ||
		m.TLSCipher == 0 || m.ServerName != s.EndpointName() || m.Helo != "smc-01.lab" {
		t.Fatalf("message metadata %+v", m)
	}
	if m.ReceivedAt.IsZero() || !strings.HasPrefix(m.ID, "0100") || !strings.HasSuffix(m.ID, "-000000") {
		t.Fatalf("id %q at %v", m.ID, m.ReceivedAt)
	}
}

// loginAuth is AUTH LOGIN for net/smtp, which only ships PLAIN and CRAM-MD5.
type loginAuth struct{ user, pass string }

func (a loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) { return "LOGIN", nil, nil }
func (a loginAuth) Next(from []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch string(from) {
	case "Username:":
		return []byte(a.user), nil
	case "Password:":
		return []byte(a.pass), nil
	}
	return nil, errors.New("unexpected challenge " + string(from))
}

func TestAuthLogin(t *testing.T) {
	s := startServer(t, nil)
	c := dialSTARTTLS(t, s)
	if err := c.Auth(loginAuth{testUser, testPass}); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "a@sub.example.com", []string{"b@x.org"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
}

func TestAuthBeforeSTARTTLS(t *testing.T) {
	s := startServer(t, nil)
	conn, err := net.Dial("tcp", s.STARTTLSAddr())
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, s.EndpointName())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("smc"); err != nil {
		t.Fatal(err)
	}
	// net/smtp will not send AUTH that is not advertised: send it raw.
	id, err := c.Text.Cmd("AUTH PLAIN AGZvbwBiYXI=")
	if err != nil {
		t.Fatal(err)
	}
	c.Text.StartResponse(id)
	code, msg, err := c.Text.ReadResponse(235)
	c.Text.EndResponse(id)
	if code != 530 || msg != "Must issue a STARTTLS command first" || err == nil {
		t.Fatalf("got %d %q %v", code, msg, err)
	}
	if err := c.Mail("smc@example.com"); err == nil {
		t.Fatal("MAIL accepted before STARTTLS")
	} else if code, msg := smtpCode(t, err); code != 530 || msg != "Must issue a STARTTLS command first" {
		t.Fatalf("MAIL: %d %q", code, msg)
	}
	if ev := s.Events(); len(ev) == 0 || ev[0].Kind != EventAuthNoTLS {
		t.Fatalf("events %+v", ev)
	}
}

func TestBadPassword(t *testing.T) {
	s := startServer(t, nil)
	c := dialSTARTTLS(t, s)
	err := c.Auth(smtp.PlainAuth("", testUser, "wrong", s.EndpointName()))
	if err == nil {
		t.Fatal("bad password accepted")
	}
	code, msg := smtpCode(t, err)
	if got := "535 " + msg; code != 535 || got != "535 Authentication Credentials Invalid" {
		t.Fatalf("got %d %q", code, msg)
	}
	// net/smtp quits after a failed AUTH. A new session: unknown user gets
	// the same reply; MAIL without AUTH gets 530 Authentication required.
	c = dialSTARTTLS(t, s)
	if err := c.Auth(smtp.PlainAuth("", "nobody", testPass, s.EndpointName())); err == nil {
		t.Fatal("unknown user accepted")
	} else if code, msg := smtpCode(t, err); code != 535 || msg != "Authentication Credentials Invalid" {
		t.Fatalf("unknown user: %d %q", code, msg)
	}
	c = dialSTARTTLS(t, s)
	if err := c.Mail("smc@example.com"); err == nil {
		t.Fatal("MAIL accepted without AUTH")
	} else if code, msg := smtpCode(t, err); code != 530 || msg != "Authentication required" {
		t.Fatalf("MAIL: %d %q", code, msg)
	}
	ev := s.Events()
	if len(ev) != 2 || ev[0].Kind != EventAuthFailed || ev[0].User != testUser || ev[0].Reply != ReplyAuthInvalid {
		t.Fatalf("events %+v", ev)
	}
}

func TestUnverifiedFromRejectedAtEndOfData(t *testing.T) {
	s := startServer(t, nil)
	c := dialSTARTTLS(t, s)
	if err := c.Auth(smtp.PlainAuth("", testUser, testPass, s.EndpointName())); err != nil {
		t.Fatal(err)
	}
	// MAIL and RCPT are accepted; the rejection comes after DATA, as SES.
	if err := c.Mail("smc@lancope.local"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("soc@example.com"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: smc@lancope.local\r\nSubject: x\r\n\r\nx\r\n"))
	err = w.Close()
	code, msg := smtpCode(t, err)
	want := "554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-2: smc@lancope.local"
	if got := "554 " + msg; code != 554 || got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("%d messages stored", n)
	}
	// The session goes on: a good message now passes.
	if err := send(c, "smc@example.com", []string{"soc@example.com"}, body); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Messages()); n != 1 {
		t.Fatalf("%d messages stored", n)
	}
}

func TestSandboxRecipients(t *testing.T) {
	s := startServer(t, func(o *Options) { o.Sandbox = true; o.Region = "eu-west-1"; o.Chain = nil })
	c := dialSTARTTLS(t, s)
	if err := c.Auth(smtp.PlainAuth("", testUser, testPass, s.EndpointName())); err != nil {
		t.Fatal(err)
	}
	err := send(c, "smc@example.com", []string{"soc@example.com", "x@gmail.test"}, body)
	_, msg := smtpCode(t, err)
	if want := "Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: x@gmail.test"; msg != want {
		t.Fatalf("got %q", msg)
	}
}

func TestSMTPSImplicitTLS(t *testing.T) {
	s := startServer(t, nil)
	conn, err := tls.Dial("tcp", s.SMTPSAddr(), clientTLS(s))
	if err != nil {
		t.Fatal(err)
	}
	// The served chain is leaf + intermediate + cross-signed root.
	if n := len(conn.ConnectionState().PeerCertificates); n != 3 {
		t.Fatalf("served %d certificates", n)
	}
	c, err := smtp.NewClient(conn, s.EndpointName())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("smc"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Fatal("STARTTLS advertised on SMTPS")
	}
	if err := c.Auth(smtp.PlainAuth("", testUser, testPass, s.EndpointName())); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "smc@example.com", []string{"soc@example.com"}, body); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	m := s.Messages()
	if len(m) != 1 || m[0].Listener != "smtps" || m[0].TLSVersion == 0 {
		t.Fatalf("messages %+v", m)
	}
}

func TestUntrustedChainFailsClient(t *testing.T) {
	s := startServer(t, nil)
	other, err := labca.NewSESChain(labca.Options{Region: "us-east-2"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tls.Dial("tcp", s.SMTPSAddr(), &tls.Config{ServerName: s.EndpointName(), RootCAs: other.RootPool()})
	if err == nil {
		t.Fatal("handshake succeeded with another chain's roots")
	}
	// The cross-signed path alone (only the old root trusted) is enough.
	conn, err := tls.Dial("tcp", s.SMTPSAddr(), &tls.Config{ServerName: s.EndpointName(), RootCAs: labca.Pool(s.Chain().OldRoot)})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestMessagesBounded(t *testing.T) {
	s := startServer(t, func(o *Options) { o.MaxMessages = 2 })
	c := dialSTARTTLS(t, s)
	if err := c.Auth(smtp.PlainAuth("", testUser, testPass, s.EndpointName())); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"1", "2", "3"} {
		if err := send(c, "smc@example.com", []string{"soc@example.com"}, "Subject: "+subj+"\r\n\r\nx\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	m := s.Messages()
	if len(m) != 2 || !strings.HasPrefix(string(m[0].Data), "Subject: 2") {
		t.Fatalf("%d messages, first %q", len(m), m[0].Data)
	}
}

func TestPeekClientSuites(t *testing.T) {
	// A real Go ClientHello, captured through a pipe.
	a, b := net.Pipe()
	go func() {
		c := tls.Client(a, &tls.Config{ServerName: "x", MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_128_GCM_SHA256}})
		_ = c.Handshake()
	}()
	br := bufio.NewReaderSize(b, readerSize)
	b.SetDeadline(time.Now().Add(10 * time.Second))
	suites := peekClientSuites(br)
	a.Close()
	b.Close()
	if len(suites) < 2 || suites[0] != tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 {
		t.Fatalf("suites %x", suites)
	}
	if prefersDHE(suites) {
		t.Fatal("Go client prefers DHE?")
	}
	if !prefersDHE([]uint16{0xC02C /* ECDHE-ECDSA: no ECDSA cert */, 0x009F, 0xC030}) {
		t.Fatal("DHE first usable suite not detected")
	}
}

func TestLegacyDHEWithoutOpenSSL(t *testing.T) {
	_, err := Start(Options{Chain: sharedChain(t), OpenSSL: filepath.Join(t.TempDir(), "no-openssl"), LegacyDHE: true})
	if err == nil || !strings.Contains(err.Error(), "openssl") {
		t.Fatalf("want a clear openssl error, got %v", err)
	}
}

// ---- legacy DHE, with the real openssl ----

func needOpenSSL(t *testing.T) {
	t.Helper()
	if !OpenSSLAvailable("") {
		t.Skip("openssl not installed")
	}
}

// sClient runs openssl s_client with stdin from /dev/null and returns its
// combined output.
func sClient(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", append([]string{"s_client"}, args...)...)
	cmd.Stdin = nil
	out, _ := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("openssl s_client %v timed out:\n%s", args, out)
	}
	return string(out)
}

func TestDH1024Params(t *testing.T) {
	needOpenSSL(t)
	p := filepath.Join(t.TempDir(), "dh.pem")
	if err := os.WriteFile(p, DH1024PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "dhparam", "-in", p, "-check", "-noout").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "DH parameters appear to be ok") {
		t.Fatalf("%v\n%s", err, out)
	}
	out, _ = exec.Command("openssl", "dhparam", "-in", p, "-text", "-noout").CombinedOutput()
	if !strings.Contains(string(out), "(1024 bit)") {
		t.Fatalf("not 1024 bits:\n%s", out)
	}
}

func TestLegacyDHE(t *testing.T) {
	needOpenSSL(t)
	s := startServer(t, func(o *Options) { o.LegacyDHE = true })
	if !s.LegacyDHE() {
		t.Fatal("LegacyDHE() false")
	}
	st, ss := s.DHEProbeAddrs()
	if st == "" || ss == "" {
		t.Fatal("no DHE probe addresses")
	}
	name := s.EndpointName()

	t.Run("probe starttls lowered seclevel", func(t *testing.T) {
		out := sClient(t, "-starttls", "smtp", "-tls1_2", "-cipher", "DHE:@SECLEVEL=1", "-connect", st, "-servername", name)
		if !strings.Contains(out, "Server Temp Key: DH, 1024 bits") {
			t.Fatalf("no 1024-bit DH:\n%s", out)
		}
		if !strings.Contains(out, "CN = "+name) {
			t.Fatalf("leaf not served:\n%s", out)
		}
	})
	t.Run("probe starttls default client", func(t *testing.T) {
		out := sClient(t, "-starttls", "smtp", "-connect", st, "-servername", name)
		if !strings.Contains(out, "dh key too small") {
			t.Fatalf("no 'dh key too small':\n%s", out)
		}
	})
	t.Run("probe smtps", func(t *testing.T) {
		out := sClient(t, "-tls1_2", "-cipher", "DHE:@SECLEVEL=1", "-connect", ss, "-servername", name)
		if !strings.Contains(out, "Server Temp Key: DH, 1024 bits") {
			t.Fatalf("no 1024-bit DH:\n%s", out)
		}
		out = sClient(t, "-connect", ss, "-servername", name)
		if !strings.Contains(out, "dh key too small") {
			t.Fatalf("no 'dh key too small':\n%s", out)
		}
	})
	// The main port behaves as SES did (the procedure's appendix): the
	// client's order decides; ECDHE first -> ECDH P-256, DHE only -> DH 1024.
	t.Run("main port default client gets ECDH P-256", func(t *testing.T) {
		out := sClient(t, "-starttls", "smtp", "-connect", s.STARTTLSAddr(), "-servername", name)
		if !strings.Contains(out, "Server Temp Key: ECDH, prime256v1, 256 bits") || !strings.Contains(out, "TLSv1.2") {
			t.Fatalf("want ECDH P-256 over TLS 1.2:\n%s", out)
		}
	})
	t.Run("main port DHE-only client", func(t *testing.T) {
		out := sClient(t, "-starttls", "smtp", "-cipher", "DHE:@SECLEVEL=1", "-connect", s.STARTTLSAddr(), "-servername", name)
		if !strings.Contains(out, "Server Temp Key: DH, 1024 bits") {
			t.Fatalf("no 1024-bit DH:\n%s", out)
		}
		out = sClient(t, "-cipher", "EDH", "-connect", s.SMTPSAddr(), "-servername", name)
		if !strings.Contains(out, "dh key too small") {
			t.Fatalf("no 'dh key too small':\n%s", out)
		}
	})
	t.Run("Go client still delivers in legacy mode", func(t *testing.T) {
		c := dialSTARTTLS(t, s)
		if err := c.Auth(smtp.PlainAuth("", testUser, testPass, name)); err != nil {
			t.Fatal(err)
		}
		if err := send(c, "smc@example.com", []string{"soc@example.com"}, body); err != nil {
			t.Fatal(err)
		}
		m := s.Messages()
		if len(m) != 1 || m[0].TLSVersion != tls.VersionTLS12 {
			t.Fatalf("messages %+v", m)
		}
	})
	spliced := 0
	for _, e := range s.Events() {
		if e.Kind == EventDHESpliced {
			spliced++
		}
		if e.Kind == EventDHEError {
			t.Errorf("dhe error: %s", e.Reply)
		}
	}
	if spliced != 6 {
		t.Errorf("%d DHE splices recorded, want 6", spliced)
	}

	// Switching off closes the probe listeners and leaves no openssl.
	if err := s.SetLegacyDHE(false); err != nil {
		t.Fatal(err)
	}
	if a, b := s.DHEProbeAddrs(); a != "" || b != "" || s.LegacyDHE() {
		t.Fatal("still in legacy mode")
	}
	if _, err := net.Dial("tcp", st); err == nil {
		t.Fatal("DHE probe listener still open")
	}
	out := sClient(t, "-starttls", "smtp", "-connect", s.STARTTLSAddr(), "-servername", name)
	if !strings.Contains(out, "TLSv1.3") {
		t.Fatalf("modern mode should negotiate TLS 1.3:\n%s", out)
	}
}

func TestCloseKillsOpenSSL(t *testing.T) {
	needOpenSSL(t)
	s, err := Start(Options{LegacyDHE: true, Chain: sharedChain(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, _ := s.DHEProbeAddrs()
	// A client that stops after STARTTLS: the spliced openssl waits for a
	// ClientHello that never comes.
	conn, err := net.Dial("tcp", st)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tp := textproto.NewConn(conn)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := tp.ReadResponse(220); err != nil || msg != "Ready to start TLS" {
		t.Fatalf("%q %v", msg, err)
	}
	var pid int
	for range 500 {
		s.mu.Lock()
		d := s.dhe
		s.mu.Unlock()
		d.mu.Lock()
		for c := range d.procs {
			pid = c.Process.Pid
		}
		d.mu.Unlock()
		if pid != 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("no openssl process seen")
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("openssl %d not running: %v", pid, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waited for the process: it is gone (reaped), as is its group.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("openssl %d still there after Close: %v", pid, err)
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process group %d still there after Close: %v", pid, err)
	}
	// The client's side was closed too.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("client connection still open")
	}
}
