package smcapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Names fixed by smc-api.md.
const (
	// CookieJWT and CookieXSRF are set by login (smc-api.md "Login").
	CookieJWT  = "stealthwatch.jwt"
	CookieXSRF = "XSRF-TOKEN"
	// HeaderXSRF must echo the XSRF cookie on every non-GET request.
	HeaderXSRF = "X-XSRF-TOKEN"

	// ApplianceTypeSMC marks the Manager in the inventory (smc-api.md:
	// `applianceType ("SMC" for the Manager)`).
	ApplianceTypeSMC = "SMC"

	// ConfigStateUpToDate and ConfigStateApplyFailed are the two final
	// configState values named by smc-api.md.
	ConfigStateUpToDate    = "UP_TO_DATE"
	ConfigStateApplyFailed = "APPLY_CONFIG_FAILED"
	// ConfigStateApplying is the SIMULATOR'S ASSUMPTION for the value shown
	// while an apply runs: smc-api.md leaves it open ("| …"). It is
	// deliberately not a bare "PENDING" so that a client hard-coding any
	// guessed name fails here; clients must treat every value other than
	// the two final ones as "still running".
	ConfigStateApplying = "APPLYING_CONFIG"
)

// Defaults used when Options leaves a field zero.
const (
	DefaultTokenTTL   = 1200 * time.Second // smc-api.md: "tokenTtlInSeconds": 1200
	DefaultApplyDelay = 300 * time.Millisecond
	DefaultFQDN       = "smc.lab.example"
)

// maxBody bounds request bodies: a configuration document or one PEM file
// is a few kilobytes, and an unbounded read would let a broken client make
// the test process allocate without limit.
const maxBody = 4 << 20

// Options configure one simulated Manager.
type Options struct {
	FQDN        string // answered by GET /fqdn and listed in the inventory; default DefaultFQDN
	ApplianceID string // the Manager's own appliance id; default derived from FQDN
	// Username and Password are the only accepted credentials. They are
	// not defaulted, and an empty password never matches, so a lab that
	// forgot to set them fails with 401 instead of accepting anyone.
	Username, Password string
	TokenTTL           time.Duration // default DefaultTokenTTL
	// ApplyDelay is how long configState stays ConfigStateApplying after a
	// PUT, measured on Now; default DefaultApplyDelay, negative = none.
	ApplyDelay time.Duration
	// Primary false makes every /cm/ request answer 307, like a secondary
	// Manager (smc-api.md: "HTTP 307 on /cm/…: not the primary Manager").
	// Note the zero value is a secondary.
	Primary bool
	// Now is the clock for session expiry and apply completion; default
	// time.Now. A fake clock must be advanced for an apply to finish.
	Now func() time.Time
	// Others are further appliances in the inventory (a Flow Collector…),
	// so a client has to pick the Manager rather than the first entry.
	Others []Appliance
}

// Appliance is one inventory entry.
type Appliance struct{ ID, FQDN, ApplianceType string }

// SMTPSettings is the Manager's SMTP configuration as the simulator stores
// it. The field names in the document are the SIMULATOR'S ASSUMPTION; see
// SMTPKeyPath.
type SMTPSettings struct {
	Server     string
	Port       int
	FromEmail  string
	UserName   string
	Password   string
	Encryption string
}

// Stats counts what clients did; tests and benchmarks compare them (for
// example, that a client renews instead of logging in again).
type Stats struct {
	Logins   int // successful logins
	Renewals int // successful renewals
	Logouts  int // successful logouts
	Puts     int // accepted config PUTs (each one starts an apply)
	Stagings int // successful certificate stagings
	// Requests counts every request, answered or refused, by
	// "METHOD path-template" (e.g. "PUT /cm/config/appliance/{id}/config");
	// unrouted requests count as "METHOD (unmatched)".
	Requests map[string]int
}

// Server is one simulated Manager. It implements http.Handler; serve it
// with httptest.NewTLSServer (real TLS, as on a Manager).
type Server struct {
	opts Options
	mux  *http.ServeMux

	// Fault knobs are atomics so a test can flip them while requests run.
	conflicts     atomic.Int64
	serverErrors  atomic.Int64
	failNextApply atomic.Bool

	mu       sync.Mutex
	sessions map[string]*session // by jwt value
	doc      map[string]any      // stored document, password in clear
	etag     string              // of doc
	applied  map[string]any      // what the Manager runs: doc after its last successful apply
	apply    applyState
	stats    Stats
}

type applyState struct {
	running  bool
	deadline time.Time
	fail     bool
	final    string // ConfigStateUpToDate or ConfigStateApplyFailed while !running
}

// New returns a Manager with a seeded document (see seedDocument).
func New(opts Options) *Server {
	if opts.FQDN == "" {
		opts.FQDN = DefaultFQDN
	}
	if opts.ApplianceID == "" {
		opts.ApplianceID = idFromName(opts.FQDN)
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	switch {
	case opts.ApplyDelay == 0:
		opts.ApplyDelay = DefaultApplyDelay
	case opts.ApplyDelay < 0:
		opts.ApplyDelay = 0
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Others = append([]Appliance(nil), opts.Others...)

	s := &Server{
		opts:     opts,
		sessions: map[string]*session{},
		stats:    Stats{Requests: map[string]int{}},
		apply:    applyState{final: ConfigStateUpToDate},
	}
	s.doc = seedDocument(opts)
	s.etag = etagOf(s.doc)
	s.applied = deepCopyMap(s.doc)

	// Go 1.22 method patterns give 405 with an Allow header for free, and
	// the matched pattern doubles as the path template for Stats.
	m := http.NewServeMux()
	m.HandleFunc("POST "+pathLogin, s.handleLogin)
	m.HandleFunc("POST /token/v2", s.handleRenew)
	m.HandleFunc("DELETE /token", s.handleLogout)
	m.HandleFunc("GET /fqdn", s.handleFQDN)
	m.HandleFunc("GET /cm/inventory/appliances", s.handleInventory)
	m.HandleFunc("GET /cm/monitor/appliances/status", s.handleAppliancesStatus)
	m.HandleFunc("GET /cm/config/appliance/{id}/status", s.handleConfigState)
	m.HandleFunc("GET /cm/config/appliance/{id}/config", s.handleGetConfig)
	m.HandleFunc("PUT /cm/config/appliance/{id}/config", s.handlePutConfig)
	m.HandleFunc("PUT /cm/config/appliance/{id}/certificate/csr", s.handleStage)
	s.mux = m
	return s
}

// Handler returns s; it exists so callers can write srv.Handler() where an
// http.Handler is expected, as with other lab servers.
func (s *Server) Handler() http.Handler { return s }

// ApplianceID is the Manager's own appliance id (useful when Options left
// it to the default).
func (s *Server) ApplianceID() string { return s.opts.ApplianceID }

// FQDN is the name GET /fqdn answers.
func (s *Server) FQDN() string { return s.opts.FQDN }

// ServeHTTP applies, in order: the 5xx knob, authentication (401), the
// XSRF check for non-GET requests (403) and the non-primary redirect (307),
// then routes. Authentication comes before the redirect because a
// secondary Manager still has its own login; the redirect only concerns
// Central Management.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := s.mux.Handler(r)
	s.count(r, pattern)

	if takeOne(&s.serverErrors) {
		writeError(w, r, http.StatusServiceUnavailable, "injected fault: service unavailable")
		return
	}
	if r.URL.Path == pathLogin {
		s.mux.ServeHTTP(w, r)
		return
	}

	token, sess, ok := s.lookupSession(r)
	if !ok {
		// smc-api.md "Login": the jwt cookie must be sent on every call and
		// the session lasts tokenTtlInSeconds.
		writeError(w, r, http.StatusUnauthorized, "missing, unknown or expired session")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !xsrfOK(r, sess.xsrf) {
		// smc-api.md "Login": "every non-GET request must carry header
		// X-XSRF-TOKEN: <that cookie's value>".
		writeError(w, r, http.StatusForbidden, "missing or wrong "+HeaderXSRF+" header")
		return
	}
	if strings.HasPrefix(r.URL.Path, "/cm/") && !s.opts.Primary {
		// smc-api.md "Central Management": 307 on /cm/… means not the
		// primary Manager. Where it points is made up.
		loc := "https://primary-" + s.opts.FQDN + r.URL.RequestURI()
		http.Redirect(w, r, loc, http.StatusTemporaryRedirect)
		return
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, token)))
}

func (s *Server) count(r *http.Request, pattern string) {
	key := pattern
	if key == "" {
		key = r.Method + " (unmatched)"
	} else if i := strings.IndexByte(key, ' '); i >= 0 && key[:i] != r.Method {
		// A HEAD served by a GET pattern is still a HEAD.
		key = r.Method + key[i:]
	}
	s.mu.Lock()
	s.stats.Requests[key]++
	s.mu.Unlock()
}

// FailNextApply makes the apply started by the next accepted config PUT end
// in APPLY_CONFIG_FAILED (on) or clears a pending request (off).
func (s *Server) FailNextApply(on bool) { s.failNextApply.Store(on) }

// Conflict makes the next n PUTs under /cm/ answer 409, as when another
// Central Management operation runs (smc-api.md: "HTTP 409 on a PUT").
func (s *Server) Conflict(n int) { s.conflicts.Store(int64(max(n, 0))) }

// ServerErrors makes the next n requests of any kind answer 503 with a
// JSON error body.
func (s *Server) ServerErrors(n int) { s.serverErrors.Store(int64(max(n, 0))) }

// ExpireTokens ends every current session: their next request gets 401.
// Sessions created afterwards are unaffected.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests = make(map[string]int, len(s.stats.Requests))
	for k, v := range s.stats.Requests {
		st.Requests[k] = v
	}
	return st
}

// takeOne decrements a knob counter if it is positive and reports whether
// it did, so concurrent requests never consume more faults than were set.
func takeOne(c *atomic.Int64) bool {
	for {
		n := c.Load()
		if n <= 0 {
			return false
		}
		if c.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// writeError answers with a Spring-style JSON error body (the SIMULATOR'S
// ASSUMPTION: the Manager's services are Java, but no public source shows
// their error bodies). Clients should rely on the status code only.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeJSON(w, status, map[string]any{
		"status":  status,
		"error":   http.StatusText(status),
		"message": msg,
		"path":    r.URL.Path,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own values are marshalled; failing here is a simulator bug.
		http.Error(w, "simulator: marshal response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// accepts reports whether the request's Accept header admits mediaType.
// smc-api.md "Login": some endpoints answer text/plain, and clients send
// "Accept: application/json, text/plain, */*"; a client that asks only for
// JSON from a text endpoint gets 406, so a wrong Accept shows up in tests.
func accepts(r *http.Request, mediaType string) bool {
	header := r.Header.Values("Accept")
	if len(header) == 0 {
		return true
	}
	typ, _, _ := strings.Cut(mediaType, "/")
	for _, h := range header {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if q := strings.TrimSpace(params["q"]); q == "0" || q == "0.0" || q == "0.00" || q == "0.000" {
				continue
			}
			if mt == "*/*" || mt == typ+"/*" || mt == mediaType {
				return true
			}
		}
	}
	return false
}

// mediaTypeIs reports whether the request's Content-Type is want,
// ignoring parameters such as charset or boundary.
func mediaTypeIs(r *http.Request, want string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == want
}

// idFromName derives a stable UUID-shaped id, so a lab restarted with the
// same FQDN keeps the same appliance id.
func idFromName(name string) string {
	h := sha256.Sum256([]byte("smcapi appliance " + name))
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
