package smc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smcfleet/smcfleet/internal/lab/smcapi"
)

const (
	testUser = "api-admin"
	testPass = "S3cret-Pa$$ word&x" // characters that change under form encoding
	testFQDN = "smc-01.lab.example"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type lab struct {
	sim    *smcapi.Server
	srv    *httptest.Server
	caFile string
	pin    string // lower-case hex of the leaf's SHA-256
}

// newLab starts a primary simulated Manager behind real TLS. Applies take
// 20ms of real time unless mod changes it.
func newLab(t *testing.T, mod func(*smcapi.Options)) *lab {
	t.Helper()
	opts := smcapi.Options{
		FQDN:       testFQDN,
		Username:   testUser,
		Password:   testPass,
		Primary:    true,
		ApplyDelay: 20 * time.Millisecond,
	}
	if mod != nil {
		mod(&opts)
	}
	sim := smcapi.New(opts)
	srv := httptest.NewUnstartedServer(sim.Handler())
	// Refused handshakes are the point of the TLS tests, not log noise.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cert := srv.Certificate()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Raw)
	return &lab{sim: sim, srv: srv, caFile: caFile, pin: hex.EncodeToString(sum[:])}
}

// client returns a Client trusting the lab's CA file, with fast polling
// and a 1ms backoff so retry tests stay quick.
func (l *lab) client(t *testing.T, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		URL:          l.srv.URL,
		Username:     testUser,
		Password:     testPass,
		CAFile:       l.caFile,
		PollInterval: 10 * time.Millisecond,
		ApplyTimeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.backoff = func(int) time.Duration { return time.Millisecond }
	t.Cleanup(c.Close)
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func makePEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// assertNoSecret fails if s holds the password in any spelling.
func assertNoSecret(t *testing.T, s string) {
	t.Helper()
	for _, form := range []string{testPass, url.QueryEscape(testPass), url.PathEscape(testPass)} {
		if strings.Contains(s, form) {
			t.Fatalf("password (as %q) leaked into %q", form, s)
		}
	}
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return e
}

// addDNS is a mutate func that appends a DNS server: a change in a filler
// element, so it does not interfere with trust-store validation.
func addDNS(addr string) func(map[string]any) (bool, error) {
	return func(doc map[string]any) (bool, error) {
		v, ok := GetPath(doc, "configurableElements.dnsServers")
		if !ok {
			return false, errors.New("no dnsServers")
		}
		list := v.([]any)
		for _, x := range list {
			if x == addr {
				return false, nil
			}
		}
		return true, SetPath(doc, "configurableElements.dnsServers", append(list, addr), false)
	}
}

func dnsServers(t *testing.T, sim *smcapi.Server) []any {
	t.Helper()
	v, _ := GetPath(sim.Document(), "configurableElements.dnsServers")
	return v.([]any)
}

func TestLoginOnceForManyCalls(t *testing.T) {
	l := newLab(t, nil)
	c := l.client(t, nil)
	ctx := ctxT(t)

	// Concurrent first calls must share one login.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.FQDN(ctx)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	id, err := c.ManagerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, _, err := c.Config(ctx, id); err != nil {
			t.Fatal(err)
		}
		if st, err := c.Status(ctx, id); err != nil || st != ConfigStateUpToDate {
			t.Fatalf("Status = %q, %v", st, err)
		}
	}
	if got := c.Stats().Logins; got != 1 {
		t.Errorf("client logins = %d, want 1", got)
	}
	if got := l.sim.Stats().Logins; got != 1 {
		t.Errorf("simulator logins = %d, want 1", got)
	}
	// A reflection dump of a logged-in client shows neither the password
	// nor the session tokens.
	type bare Client
	dump := fmt.Sprintf("%+v", (*bare)(c))
	assertNoSecret(t, dump)
	c.mu.Lock()
	tokens := c.snapshotLocked().tokens
	c.mu.Unlock()
	if len(tokens) != 2 {
		t.Fatalf("session holds %d cookies, want 2", len(tokens))
	}
	for _, tok := range tokens {
		if strings.Contains(dump, tok) {
			t.Fatalf("session token in %s", dump)
		}
	}
	if got := c.Stats().Requests[http.MethodGet]; got != 16+1+10 {
		t.Errorf("GET requests = %d, want %d", got, 27)
	}
}

func TestRenewalBeforeExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	// No apply delay: the fake clock does not move during the test.
	l := newLab(t, func(o *smcapi.Options) { o.Now = clock.Now; o.ApplyDelay = -1 })
	c := l.client(t, func(cfg *Config) { cfg.Now = clock.Now })
	ctx := ctxT(t)

	id, err := c.ManagerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(19 * time.Minute) // 1 minute left of 20: renew first
	if _, err := c.Status(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, sim := c.Stats(), l.sim.Stats()
	if st.Logins != 1 || st.Renewals != 1 || sim.Logins != 1 || sim.Renewals != 1 {
		t.Fatalf("after 19 min: client %+v, simulator logins %d renewals %d; want 1 login and 1 renewal", st, sim.Logins, sim.Renewals)
	}
	// The renewal issued a new XSRF token and invalidated the old one; a
	// PUT only succeeds if the client re-read it.
	changed, err := c.Update(ctx, id, addDNS("192.0.2.99"))
	if err != nil || !changed {
		t.Fatalf("Update after renewal = %v, %v", changed, err)
	}
	// The renewed session runs 20 minutes from the renewal.
	clock.Advance(10 * time.Minute)
	if _, err := c.Status(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Logins != 1 || st.Renewals != 1 {
		t.Fatalf("10 min after renewal: %+v, want no new login or renewal", st)
	}
	// Past expiry a renewal is impossible: log in again, without a 401.
	clock.Advance(30 * time.Minute)
	if _, err := c.Status(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Logins != 2 || st.Renewals != 1 {
		t.Fatalf("after expiry: %+v, want 2 logins, 1 renewal", st)
	}
	if got := l.sim.Stats().Requests["GET /cm/config/appliance/{id}/status"]; got == 0 {
		t.Fatal("no status request counted")
	}
}

func TestExpiredSessionReloginOn401(t *testing.T) {
	l := newLab(t, nil)
	c := l.client(t, nil)
	ctx := ctxT(t)
	id, err := c.ManagerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l.sim.ExpireTokens()
	if _, err := c.Status(ctx, id); err != nil {
		t.Fatalf("Status after server-side expiry: %v", err)
	}
	// A PUT after expiry also recovers, XSRF included.
	l.sim.ExpireTokens()
	if changed, err := c.Update(ctx, id, addDNS("192.0.2.77")); err != nil || !changed {
		t.Fatalf("Update after expiry = %v, %v", changed, err)
	}
	st := c.Stats()
	if st.Logins != 3 || st.Relogins != 2 || l.sim.Stats().Logins != 3 {
		t.Fatalf("stats %+v, simulator logins %d; want 3 logins (2 after 401)", st, l.sim.Stats().Logins)
	}
}

func TestLogout(t *testing.T) {
	l := newLab(t, nil)
	c := l.client(t, nil)
	ctx := ctxT(t)
	if err := c.Logout(ctx); err != nil {
		t.Fatalf("Logout before login: %v", err)
	}
	if n := len(c.Stats().Requests); n != 0 {
		t.Fatalf("Logout before login sent requests: %v", c.Stats().Requests)
	}
	if _, err := c.FQDN(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if got := l.sim.Stats().Logouts; got != 1 {
		t.Fatalf("simulator logouts = %d, want 1", got)
	}
	if err := c.Logout(ctx); err != nil { // second one: nothing to do
		t.Fatal(err)
	}
	if got := l.sim.Stats().Logouts; got != 1 {
		t.Fatalf("second Logout reached the server: %d logouts", got)
	}
	// The client can be used again: it logs in anew.
	if _, err := c.FQDN(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats().Logins; got != 2 {
		t.Fatalf("logins = %d, want 2", got)
	}
}

func TestBadCredentials(t *testing.T) {
	l := newLab(t, func(o *smcapi.Options) { o.Password = "something else" })
	c := l.client(t, nil)
	_, err := c.FQDN(ctxT(t))
	if err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	e := asError(t, err)
	if e.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "check api.username and api.password") ||
		!strings.Contains(err.Error(), "dedicated API account") {
		t.Fatalf("error = %v", err)
	}
	assertNoSecret(t, err.Error())
	assertNoSecret(t, fmt.Sprintf("%+v %#v %v %+v %#v", err, c.cfg, c, c, c))
	type bare Client // no String method: fmt dumps the fields
	assertNoSecret(t, fmt.Sprintf("%v %+v", (*bare)(c), (*bare)(c)))
	if c.Stats().Retries != 0 {
		t.Fatalf("a 401 login was retried: %+v", c.Stats())
	}
}

// A server that echoes whatever it receives must not get the password (or
// the session cookie) into an error.
func TestNoSecretLeakFromEchoingServer(t *testing.T) {
	var loginOK atomic.Bool
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/token/v2/authenticate" {
			if !loginOK.Load() {
				http.Error(w, "bad request: "+string(body)+" "+r.PostFormValue("password"), http.StatusBadRequest)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "stealthwatch.jwt", Value: "jwt-secret-value"})
			http.SetCookie(w, &http.Cookie{Name: "XSRF-TOKEN", Value: "xsrf-secret-value"})
			w.Write([]byte(`{"tokenTtlInSeconds":1200}`))
			return
		}
		// Echo the cookies and a decoded password in a JSON message.
		w.Header().Set("Set-Cookie", "stealthwatch.jwt=jwt-secret-value")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"message": "you sent " + r.Header.Get("Cookie") + " and " + testPass})
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	c, err := New(Config{URL: srv.URL, Username: testUser, Password: testPass, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	_, err = c.FQDN(ctxT(t))
	if err == nil {
		t.Fatal("want an error")
	}
	assertNoSecret(t, err.Error())
	if e := asError(t, err); e.Response != nil && len(e.Response.Body) != 0 {
		t.Fatalf("login error keeps the body: %q", e.Response.Body)
	}

	loginOK.Store(true)
	_, err = c.Do(ctxT(t), http.MethodPost, "/anything", []byte("{}"), "application/json")
	if err == nil {
		t.Fatal("want an error")
	}
	e := asError(t, err)
	all := err.Error() + string(e.Response.Body) + fmt.Sprint(e.Response.Header)
	assertNoSecret(t, all)
	for _, tok := range []string{"jwt-secret-value", "xsrf-secret-value"} {
		if strings.Contains(all, tok) {
			t.Fatalf("session token leaked: %s", all)
		}
	}
	if !strings.Contains(err.Error(), "you sent") {
		t.Fatalf("server message dropped: %v", err)
	}
}

// The simulator refuses a non-GET without X-XSRF-TOKEN; the client sends it.
func TestXSRFHeader(t *testing.T) {
	l := newLab(t, nil)
	raw := l.srv.Client()
	form := url.Values{"username": {testUser}, "password": {testPass}}
	resp, err := raw.PostForm(l.srv.URL+"/token/v2/authenticate", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	req, _ := http.NewRequest(http.MethodGet, l.srv.URL+"/cm/config/appliance/"+l.sim.ApplianceID()+"/config", nil)
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err = raw.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	req, _ = http.NewRequest(http.MethodPut, l.srv.URL+"/cm/config/appliance/"+l.sim.ApplianceID()+"/config", strings.NewReader(string(doc)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("If-Match", etag)
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err = raw.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("PUT without X-XSRF-TOKEN: status %d, want 403", resp.StatusCode)
	}

	c := l.client(t, nil)
	ctx := ctxT(t)
	id, err := c.ManagerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := c.Update(ctx, id, addDNS("192.0.2.1")); err != nil || !changed {
		t.Fatalf("client Update = %v, %v", changed, err)
	}
	if got := l.sim.Stats().Puts; got != 1 {
		t.Fatalf("simulator PUTs = %d, want 1", got)
	}
}

func TestUpdateStaleETagRereads(t *testing.T) {
	l := newLab(t, nil)
	ctx := ctxT(t)
	c1, c2 := l.client(t, nil), l.client(t, nil)
	id, err := c1.ManagerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	changed, err := c1.Update(ctx, id, func(doc map[string]any) (bool, error) {
		calls++
		if calls == 1 {
			// Another writer changes the document between our GET and PUT.
			if ch, err := c2.Update(ctx, id, addDNS("192.0.2.200")); err != nil || !ch {
				return false, fmt.Errorf("concurrent writer: %v, %v", ch, err)
			}
		}
		return addDNS("192.0.2.100")(doc)
	})
	if err != nil || !changed {
		t.Fatalf("Update = %v, %v", changed, err)
	}
	if calls != 2 {
		t.Fatalf("mutate called %d times, want 2", calls)
	}
	got := fmt.Sprint(dnsServers(t, l.sim))
	if !strings.Contains(got, "192.0.2.100") || !strings.Contains(got, "192.0.2.200") {
		t.Fatalf("dnsServers = %s: a change was lost", got)
	}
	if got := l.sim.Stats().Puts; got != 2 {
		t.Fatalf("accepted PUTs = %d, want 2", got)
	}
}

func TestUpdateStaleTwiceFails(t *testing.T) {
	l := newLab(t, nil)
	ctx := ctxT(t)
	c1, c2 := l.client(t, nil), l.client(t, nil)
	id, err := c1.ManagerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	changed, err := c1.Update(ctx, id, func(doc map[string]any) (bool, error) {
		calls++
		if _, err := c2.Update(ctx, id, addDNS(fmt.Sprintf("198.51.100.%d", calls))); err != nil {
			return false, err
		}
		return addDNS("192.0.2.100")(doc)
	})
	if err == nil || changed {
		t.Fatalf("Update = %v, %v; want an error", changed, err)
	}
	if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "changed again") || asError(t, err).Status != http.StatusPreconditionFailed {
		t.Fatalf("error = %v", err)
	}
	if calls != 2 {
		t.Fatalf("mutate called %d times, want 2", calls)
	}
	if strings.Contains(fmt.Sprint(dnsServers(t, l.sim)), "192.0.2.100") {
		t.Fatal("the stale document was written")
	}
}

func TestConflictRetried(t *testing.T) {
	l := newLab(t, nil)
	c := l.client(t, nil)
	ctx := ctxT(t)
	id, err := c.ManagerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l.sim.Conflict(2)
	if changed, err := c.Update(ctx, id, addDNS("192.0.2.5")); err != nil || !changed {
		t.Fatalf("Update = %v, %v", changed, err)
	}
	if got := c.Stats().Retries; got != 2 {
		t.Fatalf("retries = %d, want 2", got)
	}
	if got := l.sim.Stats().Requests["PUT /cm/config/appliance/{id}/config"]; got != 3 {
		t.Fatalf("PUT requests = %d, want 3", got)
	}

	// More conflicts than retries: the 409 is reported with its hint.
	c1 := l.client(t, func(cfg *Config) { cfg.Retries = 1 })
	l.sim.Conflict(5)
	_, err = c1.Update(ctx, id, addDNS("192.0.2.6"))
	if e := asError(t, err); e.Status != http.StatusConflict || !strings.Contains(err.Error(), "another Central Management operation is running; wait and retry") {
		t.Fatalf("error = %v", err)
	}
	l.sim.Conflict(0)
}

func TestServerErrorsRetried(t *testing.T) {
	l := newLab(t, nil)
	c := l.client(t, nil)
	ctx := ctxT(t)
	l.sim.ServerErrors(2) // hits the login itself
	if _, err := c.FQDN(ctx); err != nil {
		t.Fatal(err)
	}
	l.sim.ServerErrors(2)
	if _, err := c.ManagerID(ctx); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Retries != 4 || st.Logins != 1 {
		t.Fatalf("stats %+v, want 4 retries and 1 login", st)
	}

	l.sim.ServerErrors(100)
	c2 := l.client(t, func(cfg *Config) { cfg.Retries = -1 })
	_, err := c2.FQDN(ctx)
	if e := asError(t, err); e.Status != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "wait and retry") || c2.Stats().Retries != 0 {
		t.Fatalf("error = %v, stats %+v", err, c2.Stats())
	}
	l.sim.ServerErrors(0)
}

func TestRetryHonoursContext(t *testing.T) {
	l := newLab(t, nil)
	c := l.client(t, nil)
	c.backoff = func(int) time.Duration { return time.Hour }
	l.sim.ServerErrors(1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.FQDN(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
}

func TestApplyFailed(t *testing.T) {
	l := newLab(t, nil)
	c := l.client(t, nil)
	ctx := ctxT(t)
	id, err := c.ManagerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l.sim.FailNextApply(true)
	changed, err := c.Update(ctx, id, addDNS("192.0.2.9"))
	if !changed || !errors.Is(err, ErrApplyFailed) || !strings.Contains(err.Error(), "svc-central-management.log") {
		t.Fatalf("Update = %v, %v", changed, err)
	}
	if err := c.WaitApplied(ctx, id); !errors.Is(err, ErrApplyFailed) {
		t.Fatalf("WaitApplied = %v", err)
	}
	// The next change is refused before anything is written.
	puts := l.sim.Stats().Puts
	_, err = c.Update(ctx, id, addDNS("192.0.2.10"))
	if !errors.Is(err, ErrApplyFailed) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("Update after a failed apply = %v", err)
	}
	if l.sim.Stats().Puts != puts {
		t.Fatal("Update wrote after a failed apply")
	}
}

func TestWaitAppliedTimeout(t *testing.T) {
	l := newLab(t, func(o *smcapi.Options) { o.ApplyDelay = time.Hour })
	c := l.client(t, func(cfg *Config) { cfg.ApplyTimeout = 100 * time.Millisecond })
	ctx := ctxT(t)
	id, _ := c.ManagerID(ctx)
	_, err := c.Update(ctx, id, addDNS("192.0.2.11"))
	if err == nil || !strings.Contains(err.Error(), smcapi.ConfigStateApplying) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want a timeout naming the last state", err)
	}
}

func TestTLSModes(t *testing.T) {
	l := newLab(t, nil)
	ctx := ctxT(t)

	t.Run("ca file", func(t *testing.T) {
		if _, err := l.client(t, nil).FQDN(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong ca", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.pem")
		os.WriteFile(other, makePEM(t, "Some Other CA"), 0o600)
		c := l.client(t, func(cfg *Config) { cfg.CAFile = other })
		_, err := c.FQDN(ctx)
		if err == nil {
			t.Fatal("connected with the wrong CA")
		}
		if !strings.Contains(err.Error(), "set api.ca_file to the CA that signed the Manager's certificate, or pin api.fingerprint_sha256") ||
			!strings.Contains(err.Error(), other) {
			t.Fatalf("error = %v", err)
		}
		if !strings.Contains(strings.ToLower(strings.ReplaceAll(err.Error(), ":", "")), l.pin) {
			t.Fatalf("error does not show the server's fingerprint: %v", err)
		}
		if c.Stats().Retries != 0 {
			t.Fatal("a verification failure was retried")
		}
	})
	t.Run("system roots", func(t *testing.T) {
		c := l.client(t, func(cfg *Config) { cfg.CAFile = "" })
		_, err := c.FQDN(ctx)
		if err == nil || !strings.Contains(err.Error(), "api.ca_file") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("pin", func(t *testing.T) {
		// Colon-separated, upper case: as browsers show it.
		pin := formatFingerprint(mustHex(t, l.pin))
		c := l.client(t, func(cfg *Config) { cfg.CAFile = ""; cfg.FingerprintSHA256 = pin })
		if _, err := c.FQDN(ctx); err != nil {
			t.Fatal(err)
		}
		if c.Warning() != "" {
			t.Fatalf("Warning with a pin: %q", c.Warning())
		}
	})
	t.Run("pin mismatch", func(t *testing.T) {
		wrong := strings.Repeat("ab", 32)
		c := l.client(t, func(cfg *Config) { cfg.CAFile = ""; cfg.FingerprintSHA256 = wrong })
		_, err := c.FQDN(ctx)
		var pe *PinError
		if !errors.As(err, &pe) {
			t.Fatalf("error = %v, want a *PinError", err)
		}
		want := "the server's certificate SHA-256 is " + formatFingerprint(mustHex(t, l.pin)) + ", the inventory pins " + formatFingerprint(mustHex(t, wrong))
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error = %v\nwant it to contain %q", err, want)
		}
		if l.sim.Stats().Requests["POST /token/v2/authenticate"] > 0 && c.Stats().Logins > 0 {
			t.Fatal("logged in despite the pin mismatch")
		}
	})
	t.Run("insecure", func(t *testing.T) {
		c := l.client(t, func(cfg *Config) { cfg.CAFile = ""; cfg.Insecure = true })
		if _, err := c.FQDN(ctx); err != nil {
			t.Fatal(err)
		}
		w := c.Warning()
		if !strings.Contains(w, "DISABLED") || !strings.Contains(w, l.srv.URL) || !strings.Contains(w, "api.insecure = true") {
			t.Fatalf("Warning = %q", w)
		}
	})
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNotPrimary(t *testing.T) {
	l := newLab(t, func(o *smcapi.Options) { o.Primary = false })
	c := l.client(t, nil)
	_, err := c.ManagerID(ctxT(t))
	e := asError(t, err)
	if e.Status != http.StatusTemporaryRedirect || !strings.Contains(err.Error(), "not the primary Manager: point api.url at the primary Manager") {
		t.Fatalf("error = %v", err)
	}
	if !strings.Contains(err.Error(), "redirects to https://primary-"+testFQDN) {
		t.Fatalf("error does not name the redirect target: %v", err)
	}
}

func TestStage(t *testing.T) {
	l := newLab(t, nil)
	c := l.client(t, nil)
	ctx := ctxT(t)
	id, err := c.ManagerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := makePEM(t, "SES Root CA")
	obj, err := c.Stage(ctx, id, "ses-root", p)
	if err != nil {
		t.Fatal(err)
	}
	if content, _ := obj["content"].(string); content != strings.TrimSpace(string(p)) {
		t.Fatalf("staged content = %q", content)
	}

	_, err = c.Stage(ctx, id, "garbage", []byte("not a certificate"))
	if e := asError(t, err); e.Status != http.StatusBadRequest || e.Message == "" {
		t.Fatalf("garbage: %v", err)
	}
	before := l.sim.Stats().Requests["PUT /cm/config/appliance/{id}/certificate/csr"]
	if _, err := c.Stage(ctx, id, "bad name!", p); err == nil || !strings.Contains(err.Error(), "friendly name") {
		t.Fatalf("bad name: %v", err)
	}
	if l.sim.Stats().Requests["PUT /cm/config/appliance/{id}/certificate/csr"] != before {
		t.Fatal("a bad friendly name was sent")
	}

	// The staged object goes into the trust store through Update.
	changed, err := c.Update(ctx, id, func(doc map[string]any) (bool, error) {
		v, _ := GetPath(doc, TrustStorePath)
		return true, SetPath(doc, TrustStorePath, append(v.([]any), map[string]any{"friendlyName": "ses-root", "certificate": obj}), false)
	})
	if err != nil || !changed {
		t.Fatalf("Update = %v, %v", changed, err)
	}
	if n := len(l.sim.TrustedCertificates()); n != 3 {
		t.Fatalf("applied trust store has %d certificates, want 3", n)
	}
}

func TestManagerIDPicksSMC(t *testing.T) {
	others := []smcapi.Appliance{
		{ID: "fc-1", FQDN: "fc-01.lab.example", ApplianceType: "FlowCollector"},
		{ID: "smc-2", FQDN: "smc-02.lab.example", ApplianceType: "SMC"},
		{ID: "fs-1", FQDN: "fs-01.lab.example", ApplianceType: "FlowSensor"},
	}
	l := newLab(t, func(o *smcapi.Options) { o.Others = others })
	c := l.client(t, nil)
	ctx := ctxT(t)
	id, err := c.ManagerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id != l.sim.ApplianceID() {
		t.Fatalf("ManagerID = %q, want %q", id, l.sim.ApplianceID())
	}
	if l.sim.Stats().Requests["GET /fqdn"] != 1 {
		t.Fatal("two SMCs in the inventory, but /fqdn was not asked")
	}
	if _, err := c.ManagerID(ctx); err != nil {
		t.Fatal(err)
	}
	if got := l.sim.Stats().Requests["GET /cm/inventory/appliances"]; got != 1 {
		t.Fatalf("inventory read %d times, want 1 (cached)", got)
	}

	// One SMC among others: no need for /fqdn.
	l2 := newLab(t, func(o *smcapi.Options) { o.Others = []smcapi.Appliance{others[0], others[2]} })
	c2 := l2.client(t, nil)
	if id, err := c2.ManagerID(ctx); err != nil || id != l2.sim.ApplianceID() {
		t.Fatalf("ManagerID = %q, %v", id, err)
	}
}

func TestUpdateNoChangeNoPut(t *testing.T) {
	l := newLab(t, nil)
	c := l.client(t, nil)
	ctx := ctxT(t)
	id, err := c.ManagerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := c.Update(ctx, id, func(map[string]any) (bool, error) { return false, nil })
	if err != nil || changed {
		t.Fatalf("Update = %v, %v", changed, err)
	}
	if got := l.sim.Stats().Puts; got != 0 {
		t.Fatalf("PUTs = %d, want 0", got)
	}
	if got := c.Stats().Requests[http.MethodPut]; got != 0 {
		t.Fatalf("client sent %d PUTs", got)
	}
	// A mutate error is returned, and nothing is written either.
	_, err = c.Update(ctx, id, func(map[string]any) (bool, error) { return true, errors.New("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") || l.sim.Stats().Puts != 0 {
		t.Fatalf("err = %v", err)
	}
}

// Numbers must come back exactly as they were read: float64 would turn a
// large integer into 1.2345678901234567e+19.
func TestNumbersRoundTrip(t *testing.T) {
	l := newLab(t, nil)
	doc := l.sim.Document()
	doc["configurableElements"].(map[string]any)["bigCounter"] = json.Number("12345678901234567890")
	if err := l.sim.SetDocument(doc); err != nil {
		t.Fatal(err)
	}
	c := l.client(t, nil)
	ctx := ctxT(t)
	id, _ := c.ManagerID(ctx)
	if changed, err := c.Update(ctx, id, addDNS("192.0.2.42")); err != nil || !changed {
		t.Fatalf("Update = %v, %v", changed, err)
	}
	v, _ := GetPath(l.sim.Document(), "configurableElements.bigCounter")
	if fmt.Sprint(v) != "12345678901234567890" {
		t.Fatalf("bigCounter = %v", v)
	}
	port, _ := GetPath(l.sim.Document(), "configurableElements.smtp.port")
	if fmt.Sprint(port) != "25" {
		t.Fatalf("smtp.port = %v", port)
	}
}

func TestDo(t *testing.T) {
	l := newLab(t, nil)
	c := l.client(t, nil)
	ctx := ctxT(t)
	resp, err := c.Do(ctx, http.MethodGet, "/cm/monitor/appliances/status", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusOK || !strings.Contains(string(resp.Body), "configurationChannelStatus") || resp.Header.Get("Set-Cookie") != "" {
		t.Fatalf("resp = %d %q %v", resp.Status, resp.Body, resp.Header)
	}
	for _, bad := range []string{"https://evil.example/x", "//evil.example/x", "fqdn"} {
		if _, err := c.Do(ctx, http.MethodGet, bad, nil, ""); err == nil {
			t.Fatalf("Do(%q) accepted", bad)
		}
	}
	_, err = c.Do(ctx, http.MethodGet, "/cm/config/appliance/nope/config", nil, "")
	if e := asError(t, err); e.Status != http.StatusNotFound || e.Response == nil || len(e.Response.Body) == 0 {
		t.Fatalf("404: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("hello"), 0o600)
	good := filepath.Join(dir, "ca.pem")
	os.WriteFile(good, makePEM(t, "CA"), 0o600)
	base := Config{URL: "https://smc.example", Username: "u", Password: testPass}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // "" = valid
	}{
		{"ok", func(*Config) {}, ""},
		{"ok port slash", func(c *Config) { c.URL = "https://smc.example:8443/" }, ""},
		{"http", func(c *Config) { c.URL = "http://smc.example" }, "https://"},
		{"path", func(c *Config) { c.URL = "https://smc.example/smc" }, "without a path"},
		{"userinfo", func(c *Config) { c.URL = "https://u:p@smc.example" }, "credentials"},
		{"no host", func(c *Config) { c.URL = "https://" }, "no host"},
		{"no password", func(c *Config) { c.Password = "" }, "api.password"},
		{"two modes", func(c *Config) { c.CAFile = good; c.Insecure = true }, "only one"},
		{"missing ca", func(c *Config) { c.CAFile = filepath.Join(dir, "nope.pem") }, "api.ca_file"},
		{"garbage ca", func(c *Config) { c.CAFile = garbage }, "no PEM certificate"},
		{"good ca", func(c *Config) { c.CAFile = good }, ""},
		{"bad pin", func(c *Config) { c.FingerprintSHA256 = "abcd" }, "64 hex digits"},
		{"openssl pin", func(c *Config) { c.FingerprintSHA256 = "sha256 Fingerprint=" + formatFingerprint(make([]byte, 32)) }, ""},
	} {
		cfg := base
		tc.mod(&cfg)
		c, err := New(cfg)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: New(%v) = %v", tc.name, cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: New(%v) = %v, want an error containing %q", tc.name, cfg, err, tc.want)
		}
		if err != nil {
			assertNoSecret(t, err.Error())
		} else {
			c.Close()
		}
		assertNoSecret(t, cfg.String())
		assertNoSecret(t, fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg))
	}
}

func TestDocumentHelpers(t *testing.T) {
	l := newLab(t, nil)
	c := l.client(t, nil)
	ctx := ctxT(t)
	id, _ := c.ManagerID(ctx)
	doc, etag, err := c.Config(ctx, id)
	if err != nil || etag == "" {
		t.Fatalf("Config: %v, etag %q", err, etag)
	}
	// An entry that does not parse is kept, with Cert nil.
	list, _ := GetPath(doc, TrustStorePath)
	list = append(list.([]any), map[string]any{"friendlyName": "broken", "certificate": map[string]any{"content": "garbage"}}, "not even an object")
	if err := SetPath(doc, TrustStorePath, list, false); err != nil {
		t.Fatal(err)
	}
	certs, err := TrustedCertificates(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 4 {
		t.Fatalf("%d entries, want 4", len(certs))
	}
	for i, tc := range certs[:2] {
		if tc.Cert == nil || len(tc.SHA256) != 64 || tc.Index != i || tc.FriendlyName != smcapi.SeedFriendlyNames()[i] {
			t.Fatalf("entry %d = %+v", i, tc)
		}
		sum := sha256.Sum256(tc.Cert.Raw)
		if hex.EncodeToString(sum[:]) != tc.SHA256 {
			t.Fatalf("entry %d SHA256 mismatch", i)
		}
	}
	if certs[2].Cert != nil || certs[2].FriendlyName != "broken" || certs[2].Index != 2 || certs[3].Cert != nil || certs[3].Index != 3 {
		t.Fatalf("broken entries = %+v %+v", certs[2], certs[3])
	}
	if _, err := TrustedCertificates(map[string]any{}); err == nil {
		t.Fatal("missing trust store accepted")
	}

	// GetPath / SetPath.
	if v, ok := GetPath(doc, "configurableElements.dnsServers.1"); !ok || v != "192.0.2.54" {
		t.Fatalf("GetPath index = %v, %v", v, ok)
	}
	if _, ok := GetPath(doc, "configurableElements.nope.x"); ok {
		t.Fatal("GetPath found a missing key")
	}
	if err := SetPath(doc, "configurableElements.newThing.enabled", true, false); err == nil {
		t.Fatal("SetPath created a key without createMissing")
	}
	if err := SetPath(doc, "configurableElements.newThing.enabled", true, true); err != nil {
		t.Fatal(err)
	}
	if v, ok := GetPath(doc, "configurableElements.newThing.enabled"); !ok || v != true {
		t.Fatalf("after SetPath: %v %v", v, ok)
	}
	if err := SetPath(doc, "configurableElements.dnsServers.0", "192.0.2.1", false); err != nil {
		t.Fatal(err)
	}
	if err := SetPath(doc, "configurableElements.dnsServers.9", "x", true); err == nil {
		t.Fatal("SetPath appended to an array")
	}
	if err := SetPath(doc, "applianceId.x", 1, true); err == nil || !strings.Contains(err.Error(), "a string") {
		t.Fatalf("SetPath through a string: %v", err)
	}
}
