package ses

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

const (
	handshakeTimeout = 30 * time.Second
	maxRecipients    = 50
	readerSize       = 32 << 10
)

var errLineTooLong = errors.New("line too long")

// session is one SMTP connection.
type session struct {
	s        *Server
	raw      net.Conn
	conn     net.Conn // raw or the *tls.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	listener string
	remote   string
	local    string
	forceDHE bool

	tls      *tls.ConnectionState
	helo     string
	authUser string

	from    string
	hasFrom bool
	to      []string
}

// handle runs one connection. implicitTLS: handshake first (SMTPS).
// forceDHE: the DHE probe listeners, whose TLS always goes to openssl.
func (s *Server) handle(raw net.Conn, listener string, implicitTLS, forceDHE bool) {
	ss := &session{s: s, raw: raw, conn: raw, listener: listener, forceDHE: forceDHE,
		remote: raw.RemoteAddr().String(), local: raw.LocalAddr().String()}
	ss.br = bufio.NewReaderSize(raw, readerSize)
	ss.bw = bufio.NewWriter(raw)
	if implicitTLS {
		if !ss.startTLS() {
			return
		}
	}
	if ss.reply(fmt.Sprintf("220 %s ESMTP SimpleEmailService-%s %s", s.endpoint, s.greetTag, sessionTag())) != nil {
		return
	}
	for {
		line, err := ss.readLine()
		if errors.Is(err, errLineTooLong) {
			if ss.reply("500 Line too long") != nil {
				return
			}
			continue
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				_ = ss.reply("451 4.4.2 Timeout waiting for data from client.")
			}
			return
		}
		verb, args, _ := strings.Cut(line, " ")
		args = strings.TrimSpace(args)
		var quit bool
		switch strings.ToUpper(verb) {
		case "EHLO":
			err = ss.ehlo(args)
		case "HELO":
			ss.helo = args
			ss.resetTx()
			err = ss.reply("250 " + s.endpoint)
		case "STARTTLS":
			var cont bool
			cont, err = ss.starttls(args)
			quit = !cont
		case "AUTH":
			err = ss.auth(args)
		case "MAIL":
			err = ss.mail(args)
		case "RCPT":
			err = ss.rcpt(args)
		case "DATA":
			err = ss.data()
		case "RSET":
			ss.resetTx()
			err = ss.reply("250 Ok")
		case "NOOP":
			err = ss.reply("250 Ok")
		case "VRFY":
			err = ss.reply("252 Cannot VRFY user")
		case "QUIT":
			_ = ss.reply("221 Bye")
			quit = true
		default:
			err = ss.reply("500 Unrecognized command")
		}
		if err != nil || quit {
			return
		}
	}
}

func (ss *session) reply(lines ...string) error {
	_ = ss.conn.SetWriteDeadline(time.Now().Add(ss.s.idle))
	for _, l := range lines {
		ss.bw.WriteString(l)
		ss.bw.WriteString("\r\n")
	}
	return ss.bw.Flush()
}

// readLine reads one command line without its CRLF.
func (ss *session) readLine() (string, error) {
	_ = ss.conn.SetReadDeadline(time.Now().Add(ss.s.idle))
	b, err := ss.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = ss.br.ReadSlice('\n')
		}
		if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func (ss *session) resetTx() {
	ss.from, ss.hasFrom, ss.to = "", false, nil
}

func (ss *session) needsSTARTTLS() bool { return ss.tls == nil }

func (ss *session) ehlo(args string) error {
	if args == "" {
		return ss.reply("501 Syntax: EHLO hostname")
	}
	ss.helo = args
	ss.resetTx()
	lines := []string{"250-" + ss.s.endpoint, "250-8BITMIME", "250-SIZE " + strconv.FormatInt(ss.s.maxSize, 10)}
	if ss.tls == nil {
		lines = append(lines, "250-STARTTLS")
	} else {
		lines = append(lines, "250-AUTH PLAIN LOGIN")
	}
	lines = append(lines, "250 Ok")
	return ss.reply(lines...)
}

// starttls returns false when the connection is done (handshake failed or
// the stream was handed to openssl).
func (ss *session) starttls(args string) (bool, error) {
	if ss.tls != nil {
		return true, ss.reply("503 TLS already active")
	}
	if args != "" {
		return true, ss.reply("501 Syntax error (no parameters allowed)")
	}
	if err := ss.reply(ReplyReadyTLS); err != nil {
		return false, err
	}
	if !ss.startTLS() {
		return false, nil
	}
	// RFC 3207: forget everything learnt before TLS.
	ss.helo, ss.authUser = "", ""
	ss.resetTx()
	return true, nil
}

// startTLS runs the server side of the handshake on the raw connection, or
// hands the stream to openssl in legacy-DHE mode when the client prefers a
// DHE suite (always, on the DHE probe listeners).
func (ss *session) startTLS() bool {
	s := ss.s
	_ = ss.raw.SetDeadline(time.Now().Add(handshakeTimeout))
	cfg := s.modernTLS
	if d := s.legacyMode(); d != nil {
		cfg = s.legacyTLS
		if ss.forceDHE || prefersDHE(peekClientSuites(ss.br)) {
			why := "client's first usable suite is DHE"
			if ss.forceDHE {
				why = "DHE probe listener"
			}
			s.record(Event{Kind: EventDHESpliced, Listener: ss.listener, RemoteAddr: ss.remote,
				Reply: why + ": handed to openssl s_server (1024-bit DH)"})
			d.splice(ss, ss.raw, ss.br)
			return false
		}
	} else if ss.forceDHE {
		return false
	}
	tc := tls.Server(&bufConn{Conn: ss.raw, r: ss.br}, cfg)
	if err := tc.Handshake(); err != nil {
		s.record(Event{Kind: EventTLSError, Listener: ss.listener, RemoteAddr: ss.remote, Reply: err.Error()})
		return false
	}
	_ = ss.raw.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	ss.tls = &st
	ss.conn = tc
	ss.br = bufio.NewReaderSize(tc, readerSize)
	ss.bw = bufio.NewWriter(tc)
	return true
}

func (ss *session) auth(args string) error {
	s := ss.s
	if ss.needsSTARTTLS() {
		s.record(Event{Kind: EventAuthNoTLS, Listener: ss.listener, RemoteAddr: ss.remote, Reply: ReplyMustSTARTTLS})
		return ss.reply(ReplyMustSTARTTLS)
	}
	if ss.authUser != "" {
		return ss.reply("503 Already authenticated")
	}
	mech, initial, _ := strings.Cut(args, " ")
	initial = strings.TrimSpace(initial)
	var user, pass string
	switch strings.ToUpper(mech) {
	case "PLAIN":
		resp := initial
		if resp == "" {
			var err error
			if resp, err = ss.challenge("334 "); err != nil {
				return err
			}
		}
		if resp == "*" {
			return ss.reply("501 Authentication aborted")
		}
		b, err := base64.StdEncoding.DecodeString(resp)
		if err != nil {
			return ss.reply("501 Cannot decode response")
		}
		parts := strings.Split(string(b), "\x00")
		if len(parts) != 3 {
			return ss.reply("501 Cannot decode response")
		}
		if parts[0] != "" && parts[0] != parts[1] {
			user, pass = parts[1], "\x00invalid" // authorization identity not allowed
		} else {
			user, pass = parts[1], parts[2]
		}
	case "LOGIN":
		u := initial
		var err error
		if u == "" {
			if u, err = ss.challenge("334 VXNlcm5hbWU6"); err != nil {
				return err
			}
		}
		if u == "*" {
			return ss.reply("501 Authentication aborted")
		}
		ub, err := base64.StdEncoding.DecodeString(u)
		if err != nil {
			return ss.reply("501 Cannot decode response")
		}
		p, err := ss.challenge("334 UGFzc3dvcmQ6")
		if err != nil {
			return err
		}
		if p == "*" {
			return ss.reply("501 Authentication aborted")
		}
		pb, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			return ss.reply("501 Cannot decode response")
		}
		user, pass = string(ub), string(pb)
	default:
		return ss.reply("504 Unrecognized authentication type")
	}
	want, ok := s.opts.Users[user]
	if !ok || want != pass {
		s.record(Event{Kind: EventAuthFailed, Listener: ss.listener, RemoteAddr: ss.remote, User: user, Reply: ReplyAuthInvalid})
		return ss.reply(ReplyAuthInvalid)
	}
	ss.authUser = user
	s.record(Event{Kind: EventAuthenticate, Listener: ss.listener, RemoteAddr: ss.remote, User: user, Reply: ReplyAuthOK})
	return ss.reply(ReplyAuthOK)
}

func (ss *session) challenge(prompt string) (string, error) {
	if err := ss.reply(prompt); err != nil {
		return "", err
	}
	l, err := ss.readLine()
	if errors.Is(err, errLineTooLong) {
		return "*", nil
	}
	return strings.TrimSpace(l), err
}

// parsePath parses "FROM:<addr> params" (prefix "FROM:" or "TO:").
func parsePath(args, prefix string) (addr string, params []string, ok bool) {
	if len(args) < len(prefix) || !strings.EqualFold(args[:len(prefix)], prefix) {
		return "", nil, false
	}
	rest := strings.TrimSpace(args[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", nil, false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", nil, false
	}
	addr = rest[1:end]
	// Drop a source route (<@a,@b:user@host>).
	if strings.HasPrefix(addr, "@") {
		if i := strings.IndexByte(addr, ':'); i >= 0 {
			addr = addr[i+1:]
		}
	}
	return addr, strings.Fields(rest[end+1:]), true
}

func validAddr(a string) bool {
	at := strings.LastIndexByte(a, '@')
	return at > 0 && at < len(a)-1 && !strings.ContainsAny(a, " <>\t")
}

func (ss *session) mail(args string) error {
	if ss.needsSTARTTLS() {
		return ss.reply(ReplyMustSTARTTLS)
	}
	if ss.authUser == "" {
		return ss.reply(ReplyAuthRequired)
	}
	if ss.hasFrom {
		return ss.reply("503 Sender already specified")
	}
	addr, params, ok := parsePath(args, "FROM:")
	if !ok || !validAddr(addr) {
		return ss.reply("501 Invalid MAIL FROM address provided")
	}
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(k, "SIZE") {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return ss.reply("501 Invalid SIZE parameter")
			}
			if n > ss.s.maxSize {
				ss.s.record(Event{Kind: EventTooLarge, Listener: ss.listener, RemoteAddr: ss.remote, User: ss.authUser, From: addr,
					Reply: "552 Message size exceeds fixed maximum message size"})
				return ss.reply("552 Message size exceeds fixed maximum message size")
			}
		}
	}
	ss.from, ss.hasFrom = addr, true
	return ss.reply("250 Ok")
}

func (ss *session) rcpt(args string) error {
	if ss.needsSTARTTLS() {
		return ss.reply(ReplyMustSTARTTLS)
	}
	if !ss.hasFrom {
		return ss.reply("503 Error: need MAIL command")
	}
	addr, _, ok := parsePath(args, "TO:")
	if !ok || !validAddr(addr) {
		return ss.reply("501 Invalid RCPT TO address provided")
	}
	if len(ss.to) >= maxRecipients {
		return ss.reply("452 Too many recipients")
	}
	ss.to = append(ss.to, addr)
	return ss.reply("250 Ok")
}

func (ss *session) data() error {
	if ss.needsSTARTTLS() {
		return ss.reply(ReplyMustSTARTTLS)
	}
	if !ss.hasFrom {
		return ss.reply("503 Error: need MAIL command")
	}
	if len(ss.to) == 0 {
		return ss.reply("503 Error: need RCPT command")
	}
	if err := ss.reply("354 End data with <CR><LF>.<CR><LF>"); err != nil {
		return err
	}
	data, tooBig, err := ss.readData()
	if err != nil {
		return err
	}
	s := ss.s
	from, to := ss.from, ss.to
	ss.resetTx()
	if tooBig {
		const r = "552 Message size exceeds fixed maximum message size"
		s.record(Event{Kind: EventTooLarge, Listener: ss.listener, RemoteAddr: ss.remote, User: ss.authUser, From: from, Reply: r})
		return ss.reply(r)
	}
	if failed := s.CheckIdentities(from, headerFrom(data), to); len(failed) > 0 {
		r := s.RejectReply(failed)
		s.record(Event{Kind: EventRejected, Listener: ss.listener, RemoteAddr: ss.remote, User: ss.authUser, From: from, Reply: r})
		return ss.reply(r)
	}
	m := Message{
		ID: messageID(s.now()), From: from, To: to, Data: data, ReceivedAt: s.now(),
		AuthUser: ss.authUser, Helo: ss.helo, RemoteAddr: ss.remote, LocalAddr: ss.local, Listener: ss.listener,
	}
	if ss.tls != nil {
		m.TLSVersion, m.TLSCipher, m.ServerName = ss.tls.Version, ss.tls.CipherSuite, ss.tls.ServerName
	}
	s.store(m)
	r := "250 Ok " + m.ID
	s.record(Event{Kind: EventAccepted, Listener: ss.listener, RemoteAddr: ss.remote, User: ss.authUser, From: from, Reply: r})
	return ss.reply(r)
}

// readData reads the DATA body up to the terminating dot line, removing
// dot-stuffing and keeping line endings as sent.
func (ss *session) readData() (data []byte, tooBig bool, err error) {
	var buf bytes.Buffer
	atLineStart := true
	for {
		_ = ss.conn.SetReadDeadline(time.Now().Add(ss.s.idle))
		chunk, err := ss.br.ReadSlice('\n')
		full := err == nil
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, false, err
		}
		if atLineStart {
			if full && (string(chunk) == ".\r\n" || string(chunk) == ".\n") {
				break
			}
			if len(chunk) > 0 && chunk[0] == '.' {
				chunk = chunk[1:]
			}
		}
		if !tooBig {
			if int64(buf.Len()+len(chunk)) > ss.s.maxSize {
				tooBig = true
				buf = bytes.Buffer{}
			} else {
				buf.Write(chunk)
			}
		}
		atLineStart = full
	}
	if tooBig {
		return nil, true, nil
	}
	return buf.Bytes(), false, nil
}

// headerFrom is the address of the message's From header, if parseable.
func headerFrom(data []byte) string {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return ""
	}
	a, err := mail.ParseAddress(msg.Header.Get("From"))
	if err != nil {
		return ""
	}
	return a.Address
}

// messageID makes an id shaped like SES's
// 0100018b2f3c4d5e-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-000000.
func messageID(t time.Time) string {
	var r [16]byte
	_, _ = rand.Read(r[:])
	h := hex.EncodeToString(r[:])
	return fmt.Sprintf("0100%012x-%s-%s-%s-%s-%s-000000", t.UnixMilli(), h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// sessionTag is the random token that ends SES's greeting line.
func sessionTag() string {
	var r [15]byte
	_, _ = rand.Read(r[:])
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString(r[:]), "=")
}

// peekClientSuites returns the cipher suites of the ClientHello waiting in
// br, without consuming it; nil when it cannot be read or parsed.
func peekClientSuites(br *bufio.Reader) []uint16 {
	hdr, err := br.Peek(5)
	if err != nil || hdr[0] != 0x16 {
		return nil
	}
	n := int(binary.BigEndian.Uint16(hdr[3:5]))
	rec, err := br.Peek(5 + n)
	if err != nil {
		return nil
	}
	p := rec[5:]
	if len(p) < 4 || p[0] != 1 { // client_hello
		return nil
	}
	p = p[4:]
	if len(p) < 2+32+1 {
		return nil
	}
	p = p[34:]
	sid := int(p[0])
	if len(p) < 1+sid+2 {
		return nil
	}
	p = p[1+sid:]
	cl := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	if cl > len(p) {
		cl = len(p) &^ 1
	}
	var out []uint16
	for i := 0; i+1 < cl; i += 2 {
		out = append(out, binary.BigEndian.Uint16(p[i:]))
	}
	return out
}
