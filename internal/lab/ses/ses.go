// Package ses is a simulated Amazon SES SMTP endpoint for the lab: a real
// SMTP server on loopback that answers like email-smtp.<region>.amazonaws.com.
//
// What is real: TCP, TLS (crypto/tls with an SES-shaped chain from labca),
// the SMTP dialogue (greeting, EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL,
// RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT), SES's reply texts for
// the failures the procedure documents, and — in legacy-DHE mode — a real
// 1024-bit finite-field DHE handshake done by `openssl s_server`.
//
// What is modelled: the account (Users, VerifiedDomains, VerifiedAddresses,
// Sandbox) and delivery (messages are kept in memory, not relayed).
//
// # Legacy DHE
//
// In 2023 SES still offered DHE suites with a 1024-bit group; a client that
// preferred them (the SNA Manager with its stock tls-ciphers) failed with
// "dh key too small". Go's crypto/tls has no finite-field DHE, so with
// LegacyDHE on:
//
//   - LegacyDHE() reports it, and every Go TLS session is restricted to what
//     SES offered then: TLS 1.2 only, ECDHE on P-256 ("Server Temp Key: ECDH,
//     prime256v1, 256 bits"), ECDHE-RSA and RSA key exchange suites.
//   - On the STARTTLS and SMTPS listeners the server peeks at the
//     ClientHello. When the first suite in the client's order that SES
//     supports is a DHE one, the raw TLS stream is spliced to a fresh
//     `openssl s_server` (one process per connection) running with a 1024-bit
//     group, -cipher 'DHE:@SECLEVEL=0' and -no_tls1_3: the client gets a real
//     "Server Temp Key: DH, 1024 bits", or a real "dh key too small".
//   - DHEProbeAddrs returns two extra listeners that always splice to such an
//     openssl (one speaks the SMTP greeting/EHLO/STARTTLS first, the other is
//     implicit TLS), for probes that must see DHE whatever the client offers.
//
// After a splice the post-TLS session is openssl's, not SMTP: s_server runs
// in -rev mode and answers each line with the line reversed, so an SMTP
// client fails at its EHLO instead of hanging. That is enough for handshake
// probes (openssl s_client) and for reproducing the handshake failure; no
// message can be delivered over a DHE session.
package ses

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/smcfleet/smcfleet/internal/lab/labca"
)

// Reply texts, exactly as SES sends them (and as the procedure quotes them).
const (
	ReplyAuthInvalid      = "535 Authentication Credentials Invalid"
	ReplyMustSTARTTLS     = "530 Must issue a STARTTLS command first"
	ReplyAuthRequired     = "530 Authentication required"
	ReplyAuthOK           = "235 Authentication successful."
	ReplyReadyTLS         = "220 Ready to start TLS"
	ReplyNotVerifiedStart = "554 Message rejected: Email address is not verified. The following identities failed the check in region "
)

// DefaultMaxSize is the SIZE advertised in EHLO (10 MiB, as SES SMTP).
const DefaultMaxSize = 10485760

// DefaultMaxMessages bounds the in-memory store.
const DefaultMaxMessages = 1000

// Options configures Start.
type Options struct {
	// Region, default us-east-1 (or Chain.Region when Chain is set).
	Region string
	// Chain served by TLS; nil makes a fresh cross-signed one.
	Chain *labca.Chain
	// Users maps SMTP user names to passwords (AUTH PLAIN and LOGIN).
	Users map[string]string
	// VerifiedDomains are domain identities; a domain also covers its
	// subdomains, as in SES. Compared case-insensitively.
	VerifiedDomains []string
	// VerifiedAddresses are e-mail address identities.
	VerifiedAddresses []string
	// Sandbox: recipients must be verified identities too.
	Sandbox bool
	// LegacyDHE starts in legacy-DHE mode (see the package comment). Needs
	// openssl; Start fails with a clear error without it.
	LegacyDHE bool

	// Addr is the host (optionally "host:0") for every listener that has
	// no explicit address below; default "127.0.0.1:0". A non-zero port is
	// rejected: use the *Listen lists for fixed ports.
	Addr string
	// STARTTLSListen and SMTPSListen are explicit listen addresses, e.g.
	// {"127.0.0.9:587", "127.0.0.9:25", "127.0.0.9:2587"} and
	// {"127.0.0.9:465", "127.0.0.9:2465"}. The first of each is what
	// STARTTLSAddr and SMTPSAddr return.
	STARTTLSListen []string
	SMTPSListen    []string
	// DHESTARTTLSListen and DHESMTPSListen are the addresses of the
	// DHE probe listeners (default Addr's host, port 0).
	DHESTARTTLSListen string
	DHESMTPSListen    string

	// MaxSize is the SIZE limit (default DefaultMaxSize).
	MaxSize int64
	// MaxMessages bounds Messages() (default DefaultMaxMessages; the
	// oldest are dropped). Events are bounded the same way.
	MaxMessages int
	// IdleTimeout closes a silent connection (default 2 minutes).
	IdleTimeout time.Duration
	// OpenSSL is the openssl binary (default "openssl" from PATH).
	OpenSSL string
	// Now is the clock for ReceivedAt (default time.Now).
	Now func() time.Time
}

// Message is one accepted message.
type Message struct {
	ID         string // SES message id, as in the "250 Ok <id>" reply
	From       string // envelope sender (MAIL FROM)
	To         []string
	Data       []byte // as received, dot-unstuffed, CRLF kept
	ReceivedAt time.Time
	AuthUser   string
	Helo       string
	RemoteAddr string
	Listener   string // "starttls" or "smtps"
	LocalAddr  string
	TLSVersion uint16 // tls.VersionTLS12, ...
	TLSCipher  uint16
	ServerName string // SNI the client sent
}

// TLSVersionName is e.g. "TLS 1.3".
func (m Message) TLSVersionName() string { return tls.VersionName(m.TLSVersion) }

// TLSCipherName is e.g. "TLS_AES_128_GCM_SHA256".
func (m Message) TLSCipherName() string { return tls.CipherSuiteName(m.TLSCipher) }

// Event kinds.
const (
	EventAuthFailed   = "auth-failed"   // 535
	EventAuthNoTLS    = "auth-no-tls"   // 530 before STARTTLS
	EventRejected     = "rejected"      // 554 at end of DATA
	EventTLSError     = "tls-error"     // Go TLS handshake failed
	EventDHESpliced   = "dhe-spliced"   // connection handed to openssl
	EventDHEError     = "dhe-error"     // openssl could not be started
	EventTooLarge     = "too-large"     // 552
	EventAccepted     = "accepted"      // 250 Ok <id>
	EventAuthenticate = "authenticated" // 235
)

// Event records something the server did that a client would see, for the
// lab's logs and assertions.
type Event struct {
	Time       time.Time
	Kind       string
	Listener   string
	RemoteAddr string
	User       string
	From       string
	Reply      string // the SMTP reply sent, or an error text
}

// Server is a running simulated endpoint.
type Server struct {
	opts     Options
	endpoint string
	region   string
	chain    *labca.Chain
	maxSize  int64
	maxMsgs  int
	idle     time.Duration
	now      func() time.Time
	openssl  string
	host     string

	modernTLS *tls.Config
	legacyTLS *tls.Config

	starttlsLns []net.Listener
	smtpsLns    []net.Listener

	mu       sync.Mutex
	closed   bool
	legacy   bool
	dhe      *dheState
	msgs     []Message
	events   []Event
	conns    map[net.Conn]struct{}
	greetTag string

	wg sync.WaitGroup
}

// Start opens the listeners and serves until Close.
func Start(opts Options) (*Server, error) {
	s := &Server{opts: opts, conns: map[net.Conn]struct{}{}}
	s.chain = opts.Chain
	s.region = opts.Region
	if s.chain != nil {
		if s.region == "" {
			s.region = s.chain.Region
		} else if !strings.EqualFold(s.region, s.chain.Region) {
			return nil, fmt.Errorf("ses: Region %q differs from the chain's region %q", s.region, s.chain.Region)
		}
	}
	if s.region == "" {
		s.region = labca.DefaultRegion
	}
	s.region = strings.ToLower(s.region)
	if s.chain == nil {
		c, err := labca.NewSESChain(labca.Options{Region: s.region, CrossSigned: true})
		if err != nil {
			return nil, err
		}
		s.chain = c
	}
	s.endpoint = labca.EndpointName(s.region)
	s.maxSize = opts.MaxSize
	if s.maxSize <= 0 {
		s.maxSize = DefaultMaxSize
	}
	s.maxMsgs = opts.MaxMessages
	if s.maxMsgs <= 0 {
		s.maxMsgs = DefaultMaxMessages
	}
	s.idle = opts.IdleTimeout
	if s.idle <= 0 {
		s.idle = 2 * time.Minute
	}
	s.now = opts.Now
	if s.now == nil {
		s.now = time.Now
	}
	s.openssl = opts.OpenSSL
	if s.openssl == "" {
		s.openssl = "openssl"
	}
	host, err := hostOf(opts.Addr)
	if err != nil {
		return nil, err
	}
	s.host = host
	var tag [5]byte
	_, _ = rand.Read(tag[:])
	s.greetTag = "d-LAB" + strings.ToUpper(hex.EncodeToString(tag[:]))[:9]

	cert := s.chain.TLSCertificate()
	s.modernTLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}
	s.legacyTLS = &tls.Config{
		Certificates:     []tls.Certificate{cert},
		MinVersion:       tls.VersionTLS12,
		MaxVersion:       tls.VersionTLS12,
		CurvePreferences: []tls.CurveID{tls.CurveP256},
		CipherSuites:     legacyGoSuites,
	}

	if opts.LegacyDHE {
		if err := s.SetLegacyDHE(true); err != nil {
			return nil, err
		}
	}
	listen := func(addrs []string) ([]net.Listener, error) {
		if len(addrs) == 0 {
			addrs = []string{net.JoinHostPort(host, "0")}
		}
		var lns []net.Listener
		for _, a := range addrs {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				for _, l := range lns {
					l.Close()
				}
				return nil, fmt.Errorf("ses: listen %s: %w", a, err)
			}
			lns = append(lns, ln)
		}
		return lns, nil
	}
	if s.starttlsLns, err = listen(opts.STARTTLSListen); err != nil {
		s.Close()
		return nil, err
	}
	if s.smtpsLns, err = listen(opts.SMTPSListen); err != nil {
		s.Close()
		return nil, err
	}
	for _, ln := range s.starttlsLns {
		s.serve(ln, "starttls", false, false)
	}
	for _, ln := range s.smtpsLns {
		s.serve(ln, "smtps", true, false)
	}
	return s, nil
}

func hostOf(addr string) (string, error) {
	if addr == "" {
		return "127.0.0.1", nil
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		// A bare host.
		if ip := net.ParseIP(strings.Trim(addr, "[]")); ip != nil {
			return ip.String(), nil
		}
		return "", fmt.Errorf("ses: bad Addr %q: %w", addr, err)
	}
	if p != "" && p != "0" {
		return "", fmt.Errorf("ses: Addr %q has a fixed port; use STARTTLSListen/SMTPSListen", addr)
	}
	if h == "" {
		h = "127.0.0.1"
	}
	return h, nil
}

// EndpointName is email-smtp.<region>.amazonaws.com.
func (s *Server) EndpointName() string { return s.endpoint }

// Region is the lower-case region.
func (s *Server) Region() string { return s.region }

// Chain is the served certificate chain.
func (s *Server) Chain() *labca.Chain { return s.chain }

// STARTTLSAddr stands in for ports 587, 25 and 2587.
func (s *Server) STARTTLSAddr() string { return s.starttlsLns[0].Addr().String() }

// SMTPSAddr stands in for ports 465 and 2465.
func (s *Server) SMTPSAddr() string { return s.smtpsLns[0].Addr().String() }

// STARTTLSAddrs and SMTPSAddrs list every listener.
func (s *Server) STARTTLSAddrs() []string { return addrs(s.starttlsLns) }

// SMTPSAddrs lists every implicit-TLS listener.
func (s *Server) SMTPSAddrs() []string { return addrs(s.smtpsLns) }

func addrs(lns []net.Listener) []string {
	var out []string
	for _, l := range lns {
		out = append(out, l.Addr().String())
	}
	return out
}

// Messages returns a copy of the accepted messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	copy(out, s.msgs)
	return out
}

// Events returns a copy of the recorded events, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, len(s.events))
	copy(out, s.events)
	return out
}

// Reset forgets messages and events.
func (s *Server) Reset() {
	s.mu.Lock()
	s.msgs, s.events = nil, nil
	s.mu.Unlock()
}

// LegacyDHE tells whether legacy-DHE mode is on.
func (s *Server) LegacyDHE() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.legacy
}

// SetLegacyDHE switches legacy-DHE mode. Turning it on prepares the files
// for openssl and opens the DHE probe listeners; it fails when openssl is
// not available. Turning it off closes the probe listeners and kills every
// openssl it started. Connections already established keep their mode.
func (s *Server) SetLegacyDHE(on bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("ses: server closed")
	}
	if on == s.legacy {
		s.mu.Unlock()
		return nil
	}
	if !on {
		d := s.dhe
		s.dhe, s.legacy = nil, false
		s.mu.Unlock()
		d.close()
		return nil
	}
	s.mu.Unlock()

	d, err := s.startDHE()
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed || s.legacy {
		s.mu.Unlock()
		d.close()
		if s.legacy {
			return nil
		}
		return errors.New("ses: server closed")
	}
	s.dhe, s.legacy = d, true
	// Under s.mu with closed false: Close's wg.Wait cannot have started.
	s.serve(d.starttlsLn, "dhe-starttls", false, true)
	s.serve(d.smtpsLn, "dhe-smtps", true, true)
	s.mu.Unlock()
	return nil
}

// DHEProbeAddrs returns the DHE probe listeners (see the package comment),
// or empty strings when legacy-DHE mode is off.
func (s *Server) DHEProbeAddrs() (starttls, smtps string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dhe == nil {
		return "", ""
	}
	return s.dhe.starttlsLn.Addr().String(), s.dhe.smtpsLn.Addr().String()
}

// Close stops the listeners, closes every connection, kills the openssl
// processes and waits for the handlers.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	d := s.dhe
	s.dhe = nil
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	for _, ln := range s.starttlsLns {
		ln.Close()
	}
	for _, ln := range s.smtpsLns {
		ln.Close()
	}
	d.close()
	s.wg.Wait()
	return nil
}

func (s *Server) serve(ln net.Listener, name string, implicitTLS, forceDHE bool) {
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				return
			}
			if !s.track(c) {
				c.Close()
				return
			}
			s.wg.Go(func() {
				defer s.untrack(c)
				s.handle(c, name, implicitTLS, forceDHE)
			})
		}
	})
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) record(e Event) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	s.mu.Lock()
	s.events = append(s.events, e)
	if len(s.events) > s.maxMsgs {
		s.events = append([]Event(nil), s.events[len(s.events)-s.maxMsgs:]...)
	}
	s.mu.Unlock()
}

func (s *Server) store(m Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	if len(s.msgs) > s.maxMsgs {
		s.msgs = append([]Message(nil), s.msgs[len(s.msgs)-s.maxMsgs:]...)
	}
	s.mu.Unlock()
}

// legacyMode returns the DHE state when legacy mode is on.
func (s *Server) legacyMode() *dheState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.legacy {
		return nil
	}
	return s.dhe
}

// CheckIdentities returns the identities that fail SES's verification for
// a message with envelope sender from, header From address headerFrom
// (may be empty) and recipients to, in the order SES lists them.
func (s *Server) CheckIdentities(from, headerFrom string, to []string) []string {
	var failed []string
	seen := map[string]bool{}
	check := func(addr string) {
		if addr == "" || seen[strings.ToLower(addr)] {
			return
		}
		seen[strings.ToLower(addr)] = true
		if !s.verified(addr) {
			failed = append(failed, addr)
		}
	}
	check(from)
	check(headerFrom)
	if s.opts.Sandbox {
		for _, r := range to {
			check(r)
		}
	}
	return failed
}

// RejectReply is the 554 reply SES sends at the end of DATA for the
// failed identities.
func (s *Server) RejectReply(failed []string) string {
	return ReplyNotVerifiedStart + strings.ToUpper(s.region) + ": " + strings.Join(failed, ", ")
}

func (s *Server) verified(addr string) bool {
	a := strings.ToLower(addr)
	for _, v := range s.opts.VerifiedAddresses {
		if strings.ToLower(v) == a {
			return true
		}
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return false
	}
	dom := strings.TrimSuffix(a[at+1:], ".")
	for _, v := range s.opts.VerifiedDomains {
		v = strings.TrimSuffix(strings.ToLower(v), ".")
		if dom == v || strings.HasSuffix(dom, "."+v) {
			return true
		}
	}
	return false
}

// OpenSSLAvailable tells whether the openssl binary can be found.
func OpenSSLAvailable(path string) bool {
	if path == "" {
		path = "openssl"
	}
	_, err := exec.LookPath(path)
	return err == nil
}

// bufConn reads through a bufio.Reader that may already hold bytes read
// from the connection (a pipelined ClientHello after STARTTLS).
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }
