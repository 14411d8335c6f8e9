// Package tlsgrab opens a TLS session to a server, optionally after an SMTP
// STARTTLS dialogue, only to learn what it presents: its certificate chain
// and the negotiated parameters. It verifies nothing; callers decide what to
// trust (internal/certs checks the chain).
package tlsgrab

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Result is what the server presented.
type Result struct {
	Certificates []*x509.Certificate // as sent, leaf first
	Version      string              // "TLS 1.3"
	CipherSuite  string
	Greeting     string // the SMTP greeting, with STARTTLS
}

// ErrStartTLSRefused is returned when the server does not offer or refuses
// STARTTLS.
var ErrStartTLSRefused = errors.New("STARTTLS refused")

// Grab runs the handshake on conn (already connected) and closes it.
// starttls is "smtp" or "" (implicit TLS).
func Grab(ctx context.Context, conn net.Conn, starttls, serverName string) (*Result, error) {
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	res := &Result{}
	switch starttls {
	case "":
	case "smtp":
		g, err := smtpStartTLS(conn)
		res.Greeting = g
		if err != nil {
			return res, err
		}
	default:
		return nil, fmt.Errorf("starttls %q is not supported (use \"smtp\" or none)", starttls)
	}
	tc := tls.Client(conn, &tls.Config{
		ServerName: serverName,
		// The point is to see the chain, not to trust it yet: the caller
		// verifies every signature and the name itself.
		InsecureSkipVerify: true, //nolint:gosec
		MinVersion:         tls.VersionTLS12,
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, fmt.Errorf("TLS handshake: %w", err)
	}
	st := tc.ConnectionState()
	res.Certificates = st.PeerCertificates
	res.Version = tls.VersionName(st.Version)
	res.CipherSuite = tls.CipherSuiteName(st.CipherSuite)
	return res, nil
}

// smtpStartTLS speaks SMTP up to "220 Ready to start TLS".
func smtpStartTLS(conn net.Conn) (string, error) {
	r := bufio.NewReader(conn)
	greeting, code, err := readReply(r)
	if err != nil {
		return "", fmt.Errorf("SMTP greeting: %w", err)
	}
	if code != 220 {
		return greeting, fmt.Errorf("SMTP greeting: %s", greeting)
	}
	if _, err := fmt.Fprintf(conn, "EHLO smcfleet.invalid\r\n"); err != nil {
		return greeting, err
	}
	ehlo, code, err := readReply(r)
	if err != nil {
		return greeting, fmt.Errorf("EHLO: %w", err)
	}
	if code != 250 || !strings.Contains(strings.ToUpper(ehlo), "STARTTLS") {
		return greeting, fmt.Errorf("%w: the server does not offer it (EHLO answered %q)", ErrStartTLSRefused, firstLine(ehlo))
	}
	if _, err := fmt.Fprintf(conn, "STARTTLS\r\n"); err != nil {
		return greeting, err
	}
	reply, code, err := readReply(r)
	if err != nil {
		return greeting, fmt.Errorf("STARTTLS: %w", err)
	}
	if code != 220 {
		return greeting, fmt.Errorf("%w: %s", ErrStartTLSRefused, reply)
	}
	if r.Buffered() > 0 {
		return greeting, errors.New("STARTTLS: the server sent data before the TLS handshake")
	}
	return greeting, nil
}

// readReply reads one (possibly multi-line) SMTP reply.
func readReply(r *bufio.Reader) (string, int, error) {
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return strings.Join(lines, "\n"), 0, err
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			var code int
			fmt.Sscanf(line, "%3d", &code)
			return strings.Join(lines, "\n"), code, nil
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
