package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/smcfleet/smcfleet/internal/atomicfile"
	"github.com/smcfleet/smcfleet/internal/lab/labca"
	"github.com/smcfleet/smcfleet/internal/lab/ses"
)

// Lab SES account: the domain the simulated SES has verified.
const (
	VerifiedDomain = "lab.example"
	// LabRecipient is where Test Action sends its message.
	LabRecipient = "soc@" + VerifiedDomain
)

// startServices starts the fleet-wide services: the CA of the Managers'
// APIs and the simulated SES.
func (l *Lab) startServices(ctx context.Context) error {
	if err := l.initAPI(); err != nil {
		return err
	}
	chain, err := labca.NewSESChain(labca.Options{Region: l.Region, CrossSigned: true, ServeOldRoot: true})
	if err != nil {
		return err
	}
	l.chain = chain
	buf := make([]byte, 10)
	rand.Read(buf)
	l.smtpUser = "AKIALAB" + strings.ToUpper(hex.EncodeToString(buf[:6]))
	l.smtpPassword = "BLab" + hex.EncodeToString(buf)
	l.ses, err = ses.Start(ses.Options{
		Region:          l.Region,
		Chain:           chain,
		Users:           map[string]string{l.smtpUser: l.smtpPassword},
		VerifiedDomains: []string{VerifiedDomain},
		LegacyDHE:       l.legacyDHE,
	})
	if err != nil {
		return fmt.Errorf("simulated SES: %w", err)
	}
	l.closers = append(l.closers, l.ses.Close)
	return l.writeVars()
}

// SES is the simulated Amazon SES endpoint.
func (l *Lab) SES() *ses.Server { return l.ses }

// SESChain is the certificate chain the simulated SES serves.
func (l *Lab) SESChain() *labca.Chain { return l.chain }

// SMTPCredentials are the simulated SES SMTP credentials.
func (l *Lab) SMTPCredentials() (user, password string) { return l.smtpUser, l.smtpPassword }

func (l *Lab) writeVars() error {
	content := fmt.Sprintf(`# The simulated Amazon SES of the lab in this directory (valid while it runs).
region           = %q
smtp_user        = %q
smtp_password    = %q
verified_domains = [%q]
from_email       = "alerts@%s"
`, l.Region, l.smtpUser, l.smtpPassword, VerifiedDomain, VerifiedDomain)
	if err := atomicfile.WriteFile(l.VarsPath(), []byte(content), 0o600); err != nil {
		return err
	}
	// For steps that connect from the controller (via = "controller"):
	// smcfleet --resolve "$(cat DIR/resolve)" maps the SES name as the
	// Managers' /etc/hosts does.
	var rules []string
	for _, port := range []int{25, 587, 2587, 465, 2465} {
		hp := net.JoinHostPort(l.ses.EndpointName(), strconv.Itoa(port))
		addr, _ := l.dial(hp)
		rules = append(rules, hp+":"+addr)
	}
	return atomicfile.WriteFile(l.ResolvePath(), []byte(strings.Join(rules, ",")+"\n"), 0o644)
}

// ResolvePath holds --resolve rules that map the simulated SES's name for
// connections made from the controller.
func (l *Lab) ResolvePath() string { return filepath.Join(l.Dir, "resolve") }

// startHostServices starts a host's own services (its HTTPS API).
func (l *Lab) startHostServices(h *Host) error {
	if err := l.startAPI(h); err != nil {
		return err
	}
	h.Manager.onStart = func(c *Container) {
		c.TrustStore = h.API.TrustedCertificates()
		c.SMTP = h.API.SMTP()
	}
	h.Manager.loadResponseMgmt()
	return nil
}

// dial maps a host:port a Manager connects to onto the lab's loopback
// address. Only the simulated SES name resolves, as through the Manager's
// /etc/hosts; its STARTTLS ports are 25, 587 and 2587, and its implicit-TLS
// ports 465 and 2465, as at AWS.
func (l *Lab) dial(hostport string) (string, bool) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || l.ses == nil || !strings.EqualFold(host, l.ses.EndpointName()) {
		return "", false
	}
	switch p, _ := strconv.Atoi(port); p {
	case 25, 587, 2587:
		return l.ses.STARTTLSAddr(), true
	case 465, 2465:
		return l.ses.SMTPSAddr(), true
	}
	// A port SES does not listen on: resolve to a closed loopback port,
	// so the connection is refused as it would time out at AWS.
	return "127.0.0.1:1", true
}

func (l *Lab) inventoryDefaultsExtra() string {
	return fmt.Sprintf(`
  api {
    username = %q
    password = file("api-password")
    ca_file  = "lab-ca.pem"
  }
`, APIUser)
}

func (l *Lab) inventoryHostExtra(h *Host) string {
	return fmt.Sprintf("\n  api {\n    url = %q\n  }\n", h.api.url)
}
