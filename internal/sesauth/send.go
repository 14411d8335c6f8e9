package sesauth

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Class is what kind of outcome a test message had; the CLI prints it and
// the JSON document carries it.
type Class string

// Classes, after the procedure's troubleshooting table.
const (
	Delivered          Class = "delivered"
	UnverifiedIdentity Class = "unverified-identity" // 554 Message rejected: Email address is not verified
	Credentials        Class = "credentials"         // 535 Authentication Credentials Invalid
	UntrustedChain     Class = "untrusted-chain"     // the chain does not verify against the trust anchors
	Handshake          Class = "handshake"           // any other TLS handshake failure
	Unreachable        Class = "unreachable"         // refused, timed out or unresolvable before any byte
	StartTLSRefused    Class = "starttls-refused"    // not offered, or answered with other than 220
	Timeout            Class = "timeout"             // connected, then no answer in time
	Rejected           Class = "rejected"            // any other SMTP error reply
	Protocol           Class = "protocol"            // the connection broke or did not speak SMTP
)

// label is how a class reads in the one-line summary.
var label = map[Class]string{
	Delivered:          "delivered",
	UnverifiedIdentity: "unverified identity",
	Credentials:        "credentials",
	UntrustedChain:     "untrusted chain",
	Handshake:          "handshake",
	Unreachable:        "unreachable",
	StartTLSRefused:    "STARTTLS refused",
	Timeout:            "timeout",
	Rejected:           "rejected",
	Protocol:           "protocol",
}

// Fixes, as the procedure words them where it has one.
const (
	FixUnverifiedFrom = "use a From address in an SES verified domain"
	FixSandboxTo      = "the SES account is in the sandbox: send to an address of a verified identity, or request production access"
	FixCredentials    = "create new SES SMTP credentials (smcfleet ses smtp-password derives the password from an IAM key)"
	FixUntrusted      = "the certificate chain does not verify against the trust anchors; add the SES chain to the trust store (smcfleet certs fetch / the ses-smtp playbook)"
	FixUnreachable    = "check the endpoint name, name resolution and the firewall between this host and SES (SES SMTP listens on 25, 587 and 2587 with STARTTLS, 465 and 2465 with implicit TLS)"
	FixStartTLS       = "the server did not accept STARTTLS: use implicit TLS (port 465 or 2465), or look for a proxy that strips STARTTLS"
	FixTimeout        = "SES did not answer in time: look for a firewall or proxy that holds the connection, or a port that expects the other TLS mode"
	FixRejected       = "SES refused the message with a reply the procedure has no fix for: see the reply (the procedure: open a TAC case for anything else)"
	FixProtocol       = "the connection broke or the server does not speak SMTP: check the port and any proxy on the way"
)

// Result is the outcome of Send. Reply is the SMTP reply that decided it
// (code and text), or the error when there was none.
type Result struct {
	OK        bool   `json:"ok"`
	Class     Class  `json:"class"`
	Reply     string `json:"reply"`
	Fix       string `json:"fix"`
	MessageID string `json:"message_id"`
	// Detail says where it happened: the stage, the endpoint and the error.
	Detail string `json:"detail"`
}

// Summary is the one-line verdict: "delivered: <id>", or "<class>: <fix>".
func (r *Result) Summary() string {
	if r.OK {
		return "delivered: " + r.MessageID
	}
	return label[r.Class] + ": " + r.Fix
}

// Options are the settings of one test message, those a Manager's SMTP
// configuration holds.
type Options struct {
	// Addr is host:port to dial; the host is also the TLS server name
	// unless ServerName is set.
	Addr       string
	ServerName string
	// ImplicitTLS: TLS from the first byte (SMTPS, ports 465 and 2465);
	// otherwise STARTTLS, which is required (never plain text).
	ImplicitTLS bool
	// RootCAs are the trust anchors; nil means the system's.
	RootCAs *x509.CertPool
	// Username and Password for AUTH PLAIN.
	Username, Password string
	From               string
	To                 []string
	Subject            string // default "smcfleet SES test message"
	Body               string // default a line naming the endpoint
	// Hello is the EHLO name (default "smcfleet.invalid").
	Hello string
	// Dial opens the TCP connection: from the controller, or through an
	// SSH connection (sshconn.Client.DialContext).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock of the Date header (default time.Now).
	Now func() time.Time
}

// PortMode tells the TLS mode SES uses on a port: STARTTLS on 25, 587 and
// 2587, implicit TLS on 465 and 2465. Other ports are an error: SES
// listens on no other.
func PortMode(port int) (implicitTLS bool, err error) {
	switch port {
	case 25, 587, 2587:
		return false, nil
	case 465, 2465:
		return true, nil
	}
	return false, fmt.Errorf("port %d: SES SMTP listens on 25, 587 and 2587 (STARTTLS) and 465 and 2465 (implicit TLS)", port)
}

// check validates the options that do not depend on the server.
func (o *Options) check() (from *mail.Address, to []*mail.Address, err error) {
	if o.Dial == nil {
		return nil, nil, errors.New("no Dial function")
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return nil, nil, fmt.Errorf("endpoint %q: %w", o.Addr, err)
	}
	if o.Username == "" {
		return nil, nil, errors.New("no SMTP user name")
	}
	if o.Password == "" {
		return nil, nil, errors.New("no SMTP password")
	}
	from, err = parseAddr("From", o.From)
	if err != nil {
		return nil, nil, err
	}
	if len(o.To) == 0 {
		return nil, nil, errors.New("no recipient")
	}
	for _, t := range o.To {
		a, err := parseAddr("To", t)
		if err != nil {
			return nil, nil, err
		}
		to = append(to, a)
	}
	if strings.ContainsAny(o.Subject, "\r\n") || strings.ContainsAny(o.Hello, "\r\n ") {
		return nil, nil, errors.New("subject and EHLO name must be one line")
	}
	return from, to, nil
}

func parseAddr(field, s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%s address %q: %w", field, s, err)
	}
	if strings.ContainsAny(a.Address, "<>\r\n ") {
		return nil, fmt.Errorf("%s address %q cannot be used in SMTP", field, s)
	}
	return a, nil
}

// Send delivers one test message and classifies the outcome. The error is
// only for invalid Options; every outcome of the dialogue, good or bad, is
// a Result.
func Send(ctx context.Context, o Options) (*Result, error) {
	from, to, err := o.check()
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(o.Addr)
	serverName := o.ServerName
	if serverName == "" {
		serverName = host
	}
	mode := "STARTTLS"
	if o.ImplicitTLS {
		mode = "implicit TLS"
	}
	where := fmt.Sprintf("%s (%s)", o.Addr, mode)

	conn, err := o.Dial(ctx, "tcp", o.Addr)
	if err != nil {
		return fail(Unreachable, err.Error(), FixUnreachable, "connect to %s: %v", where, err), nil
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// Cancellation reaches a blocked read or write.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	tlsCfg := &tls.Config{ServerName: serverName, RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
	var tc *tls.Conn
	if o.ImplicitTLS {
		tc = tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return classifyTLS(ctx, err, where), nil
		}
		conn = tc
	}
	s := &session{tp: textproto.NewConn(conn), where: where, ctx: ctx}
	if _, err := s.expect(220, ""); err != nil {
		return s.failed("greeting", err), nil
	}
	hello := o.Hello
	if hello == "" {
		hello = "smcfleet.invalid"
	}
	ehlo, err := s.expect(250, "EHLO %s", hello)
	if err != nil {
		return s.failed("EHLO", err), nil
	}
	if !o.ImplicitTLS {
		if !hasExtension(ehlo, "STARTTLS") {
			return fail(StartTLSRefused, "250 "+oneLine(ehlo), FixStartTLS, "%s: EHLO does not offer STARTTLS", where), nil
		}
		if _, err := s.expect(220, "STARTTLS"); err != nil {
			var te *textproto.Error
			if errors.As(err, &te) {
				return fail(StartTLSRefused, replyText(te), FixStartTLS, "%s: STARTTLS answered %s", where, replyText(te)), nil
			}
			return s.failed("STARTTLS", err), nil
		}
		// Anything already buffered would be read as if it came over TLS
		// (the STARTTLS command injection of CVE-2011-0411).
		if s.tp.R.Buffered() > 0 {
			return fail(Protocol, "", FixProtocol, "%s: the server sent data before the TLS handshake", where), nil
		}
		tc = tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return classifyTLS(ctx, err, where), nil
		}
		// RFC 3207: forget what was learnt before TLS and greet again.
		s.tp = textproto.NewConn(tc)
		if _, err := s.expect(250, "EHLO %s", hello); err != nil {
			return s.failed("EHLO after STARTTLS", err), nil
		}
	}
	st := tc.ConnectionState()
	where = fmt.Sprintf("%s (%s, %s)", o.Addr, mode, tls.VersionName(st.Version))
	s.where = where

	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + o.Username + "\x00" + o.Password))
	if _, err := s.expect(235, "AUTH PLAIN %s", auth); err != nil {
		return s.failed("AUTH", err), nil
	}
	if _, err := s.expect(250, "MAIL FROM:<%s>", from.Address); err != nil {
		return s.failed("MAIL FROM", err), nil
	}
	for _, t := range to {
		if _, err := s.expect(250, "RCPT TO:<%s>", t.Address); err != nil {
			return s.failed("RCPT TO", err), nil
		}
	}
	if _, err := s.expect(354, "DATA"); err != nil {
		return s.failed("DATA", err), nil
	}
	w := s.tp.DotWriter()
	if _, err := io.WriteString(w, o.message(from, to)); err != nil {
		return s.failed("DATA", err), nil
	}
	if err := w.Close(); err != nil {
		return s.failed("DATA", err), nil
	}
	accepted, err := s.expect(250, "")
	if err != nil {
		r := s.failed("end of DATA", err)
		if r.Class == UnverifiedIdentity {
			r.Fix = identityFix(r.Reply, from.Address)
		}
		return r, nil
	}
	_, _ = s.expect(221, "QUIT")
	return &Result{OK: true, Class: Delivered, Reply: "250 " + accepted, MessageID: messageID(accepted),
		Detail: "accepted by " + where}, nil
}

// message is the test message, CRLF-terminated lines.
func (o *Options) message(from *mail.Address, to []*mail.Address) string {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	subject := o.Subject
	if subject == "" {
		subject = "smcfleet SES test message"
	}
	body := o.Body
	if body == "" {
		body = "This test message was sent by smcfleet ses test-send through " + o.Addr + "."
	}
	var rcpts []string
	for _, t := range to {
		rcpts = append(rcpts, t.String())
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", from.String())
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(rcpts, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mimeHeader(subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@smcfleet.invalid>\r\n", hex.EncodeToString(id[:]))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		b.WriteString(line + "\r\n")
	}
	return b.String()
}

func mimeHeader(s string) string {
	for _, c := range s {
		if c >= 0x80 {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// session is the SMTP dialogue after the TCP (and maybe TLS) connection.
type session struct {
	tp    *textproto.Conn
	where string
	ctx   context.Context
}

// expect sends a command (none when format is "") and reads a reply with
// the code wanted; another code is a *textproto.Error.
func (s *session) expect(code int, format string, args ...any) (string, error) {
	if format != "" {
		if err := s.tp.PrintfLine(format, args...); err != nil {
			return "", err
		}
	}
	_, msg, err := s.tp.ReadResponse(code)
	return msg, err
}

// failed classifies an error of the dialogue at stage.
func (s *session) failed(stage string, err error) *Result {
	var te *textproto.Error
	if errors.As(err, &te) {
		return classifyReply(te, stage, s.where)
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout(), s.ctx.Err() != nil:
		return fail(Timeout, err.Error(), FixTimeout, "%s: %s: no answer in time: %v", s.where, stage, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return fail(Protocol, err.Error(), FixProtocol, "%s: %s: the server closed the connection: %v", s.where, stage, err)
	}
	var pe textproto.ProtocolError
	if errors.As(err, &pe) {
		return fail(Protocol, err.Error(), FixProtocol, "%s: %s: not an SMTP reply: %v", s.where, stage, err)
	}
	return fail(Protocol, err.Error(), FixProtocol, "%s: %s: %v", s.where, stage, err)
}

// classifyReply maps an SMTP error reply onto the procedure's table.
func classifyReply(te *textproto.Error, stage, where string) *Result {
	reply := replyText(te)
	lower := strings.ToLower(te.Msg)
	switch {
	case te.Code == 535:
		return fail(Credentials, reply, FixCredentials,
			"%s: %s: %s (SES SMTP passwords are per region: one derived for another region is refused the same way)", where, stage, reply)
	case te.Code == 554 && strings.Contains(lower, "not verified"):
		return fail(UnverifiedIdentity, reply, FixUnverifiedFrom, "%s: %s: %s", where, stage, reply)
	}
	return fail(Rejected, reply, FixRejected, "%s: %s: %s", where, stage, reply)
}

// identityFix picks the fix for a 554 "not verified": the From address,
// or (in the sandbox) a recipient.
func identityFix(reply, from string) string {
	_, list, ok := strings.Cut(reply, "in region ")
	if !ok {
		return FixUnverifiedFrom
	}
	_, list, ok = strings.Cut(list, ":")
	if !ok {
		return FixUnverifiedFrom
	}
	for _, id := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(id), from) {
			return FixUnverifiedFrom
		}
	}
	return FixSandboxTo
}

// classifyTLS maps a failed handshake onto the procedure's table.
func classifyTLS(ctx context.Context, err error, where string) *Result {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		ne       net.Error
	)
	r := &Result{Class: Handshake, Reply: err.Error(), Detail: fmt.Sprintf("TLS handshake with %s: %v", where, err)}
	switch {
	case errors.As(err, &unknown):
		r.Class, r.Fix = UntrustedChain, FixUntrusted
	case errors.As(err, &hostname):
		r.Fix = "the certificate is not valid for " + hostname.Host + ": check the region, and look for a proxy that intercepts TLS"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		r.Fix = "a certificate of the chain has expired or is not yet valid: check this host's clock, then the chain (smcfleet certs fetch)"
	case errors.As(err, &invalid):
		r.Fix = "a certificate of the chain is not acceptable: compare the chain with the trust store (smcfleet certs fetch)"
	case errors.As(err, &record):
		r.Fix = "the server did not answer TLS: STARTTLS is for ports 25, 587 and 2587, implicit TLS for 465 and 2465"
	case errors.As(err, &ne) && ne.Timeout(), ctx.Err() != nil:
		r.Class, r.Fix = Timeout, FixTimeout
	case strings.Contains(err.Error(), "dh key too small"):
		r.Fix = "dh key too small: remove the DHE/EDH suites from the Manager's tls-ciphers (the procedure's appendix)"
	default:
		r.Fix = "compare the protocols and key exchange the endpoint offers (smcfleet certs probe) with what this host allows"
	}
	return r
}

func fail(class Class, reply, fix, format string, args ...any) *Result {
	return &Result{Class: class, Reply: reply, Fix: fix, Detail: fmt.Sprintf(format, args...)}
}

func replyText(te *textproto.Error) string {
	return strconv.Itoa(te.Code) + " " + oneLine(te.Msg)
}

// oneLine joins a multi-line reply's lines.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " / ") }

// hasExtension reports whether an EHLO reply lists ext.
func hasExtension(ehlo, ext string) bool {
	for _, line := range strings.Split(ehlo, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.EqualFold(f[0], ext) {
			return true
		}
	}
	return false
}

// messageID is the SES message id of "Ok <id>", the reply at the end of
// DATA; the whole text when it has another shape.
func messageID(reply string) string {
	f := strings.Fields(reply)
	if len(f) >= 2 && strings.EqualFold(f[0], "ok") {
		return f[1]
	}
	return strings.TrimSpace(reply)
}
