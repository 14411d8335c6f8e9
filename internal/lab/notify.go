package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"regexp"
	"strings"
	"time"
)

// TestActionResult is what Response Management's "Test Action" did.
type TestActionResult struct {
	Host string `json:"host"`
	OK   bool   `json:"ok"`
	// Error is the banner text; LogLine what was appended to the log.
	Error   string `json:"error,omitempty"`
	LogLine string `json:"log_line,omitempty"`
	// MessageID is the SES message id of a delivered message.
	MessageID string `json:"message_id,omitempty"`
}

// dheCipher matches an OpenSSL DHE or EDH suite name in a cipher list.
var dheCipher = regexp.MustCompile(`(^|:)(DHE|EDH)-`)

// AllowsDHE reports whether an OpenSSL cipher list names a DHE/EDH suite.
func AllowsDHE(ciphers string) bool { return dheCipher.MatchString(ciphers) }

// TestAction makes the host's sw-response-mgmt send an e-mail through the
// simulated SES with what it loaded at its last restart: SMTP settings,
// trust store and cipher list. A failure appends to the Manager's log the
// line the procedure's troubleshooting table quotes.
func (l *Lab) TestAction(ctx context.Context, h *Host) TestActionResult {
	res := TestActionResult{Host: h.Name}
	ct, _ := h.Manager.Container(ResponseContainer)
	fail := func(exception string) TestActionResult {
		line := fmt.Sprintf("%s ERROR [response-action-1] c.l.sw.response.action.EmailActionExecutor - Test action failed: %s",
			l.now().UTC().Format("2006-01-02 15:04:05,000"), exception)
		res.Error = exception
		res.LogLine = line
		if err := appendLine(h.Manager.path(ResponseLogPath), line); err != nil {
			res.Error += " (and the log could not be written: " + err.Error() + ")"
		}
		return res
	}
	if !ct.Running {
		return fail("java.net.ConnectException: sw-response-mgmt is not running")
	}
	cfg := ct.SMTP
	if cfg.Server == "" {
		return fail("javax.mail.MessagingException: Unknown SMTP host: (SMTP server not configured)")
	}
	addr, ok := l.dial(net.JoinHostPort(cfg.Server, fmt.Sprint(cfg.Port)))
	if !ok {
		return fail(fmt.Sprintf("javax.mail.MessagingException: Unknown SMTP host: %s; nested exception is: java.net.UnknownHostException: %s", cfg.Server, cfg.Server))
	}
	connectErr := func(nested string) TestActionResult {
		return fail(fmt.Sprintf("javax.mail.MessagingException: Could not connect to SMTP host: %s, port: %d; nested exception is: %s", cfg.Server, cfg.Port, nested))
	}
	roots := x509.NewCertPool()
	for _, c := range ct.TrustStore {
		roots.AddCert(c)
	}
	// The legacy-DHE model (see internal/lab/ses): SES, when it offered
	// 1024-bit DHE, chose it whenever the client allowed DHE at all. The
	// certificate arrives before the key exchange, so an untrusted chain
	// is what the client reports first.
	if l.ses.LegacyDHE() && dheCipher.MatchString(ct.Ciphers) {
		if _, err := l.chain.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: l.chain.IntermediatePool(), DNSName: cfg.Server}); err != nil {
			return connectErr(tlsException(err))
		}
		return connectErr("javax.net.ssl.SSLException: error:0A00018A:SSL routines:tls_process_ske_dhe:dh key too small")
	}
	tlsCfg := &tls.Config{ServerName: cfg.Server, RootCAs: roots, MinVersion: tls.VersionTLS12}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return connectErr("java.net.ConnectException: Connection refused (Connection refused)")
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	implicit := strings.EqualFold(cfg.Encryption, "SMTPS")
	if implicit {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			return connectErr(tlsException(err))
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, cfg.Server)
	if err != nil {
		return connectErr("java.net.SocketException: " + err.Error())
	}
	defer c.Close()
	if err := c.Hello(h.Name + ".lab.example"); err != nil {
		return connectErr("java.net.SocketException: " + err.Error())
	}
	if !implicit && strings.EqualFold(cfg.Encryption, "STARTTLS") {
		if err := c.StartTLS(tlsCfg); err != nil {
			return connectErr(tlsException(err))
		}
	}
	if cfg.UserName != "" {
		if err := c.Auth(smtp.PlainAuth("", cfg.UserName, cfg.Password, cfg.Server)); err != nil {
			return fail("javax.mail.AuthenticationFailedException: " + smtpText(err))
		}
	}
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: SNA Test Action from %s\r\n\r\nThis is a test of the e-mail action.\r\n", cfg.FromEmail, LabRecipient, h.Name)
	if err := send(c, cfg.FromEmail, LabRecipient, msg); err != nil {
		return fail("com.sun.mail.smtp.SMTPSendFailedException: " + smtpText(err))
	}
	res.OK = true
	if msgs := l.ses.Messages(); len(msgs) > 0 {
		res.MessageID = msgs[len(msgs)-1].ID
	}
	return res
}

func send(c *smtp.Client, from, to, msg string) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// tlsException renders a Go TLS error as the Manager's Java stack logs it.
func tlsException(err error) string {
	var unknownAuthority x509.UnknownAuthorityError
	var certInvalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &unknownAuthority):
		return "javax.net.ssl.SSLHandshakeException: sun.security.validator.ValidatorException: PKIX path building failed: " +
			"sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target"
	case errors.As(err, &certInvalid):
		return "javax.net.ssl.SSLHandshakeException: sun.security.validator.ValidatorException: PKIX path validation failed: " +
			"java.security.cert.CertPathValidatorException: " + certInvalid.Error()
	case errors.As(err, &hostname):
		return "javax.net.ssl.SSLHandshakeException: java.security.cert.CertificateException: No subject alternative DNS name matching " + hostname.Host + " found."
	}
	return "javax.net.ssl.SSLHandshakeException: " + err.Error()
}

// smtpText is the server's reply, as Jakarta Mail puts it in exceptions.
func smtpText(err error) string {
	var te *textproto.Error
	if errors.As(err, &te) {
		return fmt.Sprintf("%d %s", te.Code, strings.Trim(te.Msg, `"`))
	}
	return strings.TrimSpace(err.Error())
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(line + "\n")
	return err
}
