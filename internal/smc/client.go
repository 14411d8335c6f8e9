package smc

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultRetries      = 4
	DefaultApplyTimeout = 5 * time.Minute
	DefaultPollInterval = 2 * time.Second
	DefaultUserAgent    = "smcfleet"
)

// Timeouts of the transport that Config does not expose: a Manager that
// does not complete TCP or TLS within them is unreachable, not slow.
const (
	dialTimeout         = 10 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
)

// Config describes one Manager and how to talk to it.
type Config struct {
	// URL is https://host[:port] with no path.
	URL string
	// Username and Password are the API account. Password is a secret: it
	// appears in no error, log line or String output.
	Username, Password string

	// At most one of CAFile, FingerprintSHA256 and Insecure may be set;
	// with none, the system roots verify the Manager.
	//
	// CAFile is a PEM bundle; only its certificates are trusted.
	CAFile string
	// FingerprintSHA256 pins the Manager's leaf certificate: 64 hex digits,
	// with or without colons, any case. The chain and name are then not
	// checked, because a pin is stronger than both.
	FingerprintSHA256 string
	// Insecure skips verification; the caller must print Warning().
	Insecure bool

	// Timeout bounds one HTTP attempt (headers and body); default 30s.
	Timeout time.Duration
	// Retries is how often a 409, 5xx or network error is retried; default
	// 4 (5 attempts). Negative means no retries. Backoff starts at 500ms,
	// doubles, is capped at 8s and is jittered.
	Retries int
	// ApplyTimeout limits WaitApplied; default 5m.
	ApplyTimeout time.Duration
	// PollInterval is the pause between configState polls; default 2s.
	PollInterval time.Duration
	// Now is the clock for session expiry; default time.Now. Waiting
	// (backoff, polling, ApplyTimeout) uses real timers so a frozen fake
	// clock cannot make the client spin forever.
	Now func() time.Time
	// UserAgent is sent on every request; default "smcfleet".
	UserAgent string
}

// String describes the configuration without the password.
func (c Config) String() string {
	mode := "system roots"
	switch {
	case c.CAFile != "":
		mode = "ca_file " + c.CAFile
	case c.FingerprintSHA256 != "":
		mode = "fingerprint_sha256 " + c.FingerprintSHA256
	case c.Insecure:
		mode = "INSECURE"
	}
	pw := "unset"
	if c.Password != "" {
		pw = "set"
	}
	return fmt.Sprintf("smc.Config{URL: %s, Username: %s, Password: (%s), TLS: %s}", c.URL, c.Username, pw, mode)
}

// GoString keeps %#v from printing the password field.
func (c Config) GoString() string { return c.String() }

// Stats counts what a Client did, for tests and benchmarks.
type Stats struct {
	Requests map[string]int // HTTP requests sent, by method (login, renewal and logout included)
	Logins   int            // successful logins
	Renewals int            // successful renewals
	Logouts  int            // logouts sent
	Retries  int            // attempts repeated after 409, 5xx or a network error
	Relogins int            // logins after the first (a 401, or a session that expired unrenewed)
}

// Client talks to one Manager. It is safe for concurrent use.
type Client struct {
	cfg       Config
	base      string // cfg.URL without a trailing slash
	http      *http.Client
	pin       []byte // decoded FingerprintSHA256, nil unless pinned
	cred      *credentials
	backoff   func(retry int) time.Duration // replaceable by tests
	sessSem   chan struct{}                 // serialises login/renewal; a channel so waiting honours ctx
	mu        sync.Mutex                    // guards sess, stats, managerID
	sess      *session                      // a pointer, so a field dump shows no token (see credentials)
	stats     Stats
	managerID string
}

// credentials holds the password away from Client's plain fields: fmt
// prints a nested pointer as an address, so even a reflection dump of a
// Client (%+v on a type without String) cannot show it.
type credentials struct {
	password string
	forms    []string // spellings to redact, see passwordForms
}

// New validates cfg, reads the CA file and returns a Client. It makes no
// request: the first call logs in.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("api.url %q: %w", cfg.URL, err)
	}
	switch {
	case u.Scheme != "https":
		// The password and session cookie travel in every request.
		return nil, fmt.Errorf("api.url %q: must start with https://", cfg.URL)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("api.url %q: no host", cfg.URL)
	case u.User != nil:
		return nil, fmt.Errorf("api.url: must not carry credentials; use api.username and api.password")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("api.url %q: must be https://host[:port] without a path", cfg.URL)
	}
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("api.username and api.password are required")
	}
	n := 0
	for _, set := range []bool{cfg.CAFile != "", cfg.FingerprintSHA256 != "", cfg.Insecure} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("set only one of api.ca_file, api.fingerprint_sha256 and api.insecure")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = DefaultRetries
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = DefaultApplyTimeout
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}

	c := &Client{
		cfg:     cfg,
		base:    "https://" + u.Host,
		backoff: defaultBackoff,
		sessSem: make(chan struct{}, 1),
		stats:   Stats{Requests: map[string]int{}},
		sess:    &session{},
	}
	c.cred = &credentials{password: cfg.Password, forms: passwordForms(cfg.Password)}
	c.cfg.Password = ""

	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case cfg.CAFile != "":
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("api.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("api.ca_file %s: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)", cfg.CAFile)
		}
		// Only this pool: a private CA file must not be widened by the
		// system roots, or any public CA could impersonate the Manager.
		tc.RootCAs = pool
	case cfg.FingerprintSHA256 != "":
		pin, err := parseFingerprint(cfg.FingerprintSHA256)
		if err != nil {
			return nil, err
		}
		c.pin = pin
		// The standard verification is replaced, not skipped:
		// VerifyConnection runs on every handshake, resumed ones included.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = c.verifyPin
	case cfg.Insecure:
		tc.InsecureSkipVerify = true
	}

	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: cfg.Timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	c.http = &http.Client{
		Transport: tr,
		// 307 means "not the primary Manager" (smc-api.md); following it
		// would send the session cookie to whatever host it names.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		// No Jar: the session cookies are handled by the Client itself.
	}
	return c, nil
}

// Warning is non-empty when certificate verification is disabled; the
// caller must show it to the operator.
func (c *Client) Warning() string {
	if !c.cfg.Insecure {
		return ""
	}
	return "TLS verification of " + c.base + " is DISABLED (api.insecure = true): anyone on the path can read the API password"
}

// String names the Manager and the account, never the password: fmt
// would otherwise print the unexported Config field by field.
func (c *Client) String() string { return "smc.Client(" + c.cfg.Username + "@" + c.base + ")" }

// GoString keeps %#v from printing the fields either.
func (c *Client) GoString() string { return c.String() }

// URL is the Manager's base URL as used for requests.
func (c *Client) URL() string { return c.base }

// Stats returns a copy of the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Requests = make(map[string]int, len(c.stats.Requests))
	for k, v := range c.stats.Requests {
		st.Requests[k] = v
	}
	return st
}

// Close releases idle connections. The session stays valid on the
// Manager until it expires; call Logout to end it.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// parseFingerprint accepts the forms people copy from browsers and
// openssl: "AB:CD:…", "abcd…", with or without the "SHA256" prefix
// openssl prints ("sha256 Fingerprint=").
func parseFingerprint(s string) ([]byte, error) {
	t := strings.TrimSpace(s)
	if i := strings.LastIndexByte(t, '='); i >= 0 {
		t = t[i+1:]
	}
	t = strings.NewReplacer(":", "", " ", "", "-", "").Replace(t)
	b, err := hex.DecodeString(t)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("api.fingerprint_sha256 %q: want the 64 hex digits of a SHA-256 (colons allowed)", s)
	}
	return b, nil
}

// PinError reports a server certificate that does not match the pin.
type PinError struct {
	Got, Want string // colon-separated upper-case hex
}

func (e *PinError) Error() string {
	return "the server's certificate SHA-256 is " + e.Got + ", the inventory pins " + e.Want
}

func (c *Client) verifyPin(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
	if subtle.ConstantTimeCompare(sum[:], c.pin) == 1 {
		return nil
	}
	return &PinError{Got: formatFingerprint(sum[:]), Want: formatFingerprint(c.pin)}
}

// formatFingerprint renders the colon-separated upper-case form that
// browsers, openssl and the Manager's UI display.
func formatFingerprint(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}
