package smcapi

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testUser = "api-admin"
	testPass = "correct horse"
	testID   = "0c2f6a61-4a7e-4d1b-9d3e-5f0a1b2c3d4e"
	otherID  = "a1b2c3d4-0000-4000-8000-000000000fc1"
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
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	c     *http.Client
	clock *fakeClock
}

// newLab starts a primary Manager behind real TLS, on a fake clock, with a
// Flow Collector in the inventory, and a cookie-jar client that does not
// follow redirects (so 307 is observable).
func newLab(t *testing.T, mod func(*Options)) *lab {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	opts := Options{
		FQDN:        "smc-01.lab.example",
		ApplianceID: testID,
		Username:    testUser,
		Password:    testPass,
		Primary:     true,
		Now:         clock.Now,
		Others:      []Appliance{{ID: otherID, FQDN: "fc-01.lab.example", ApplianceType: "FlowCollector"}},
	}
	if mod != nil {
		mod(&opts)
	}
	srv := New(opts)
	ts := httptest.NewTLSServer(srv)
	t.Cleanup(ts.Close)
	return &lab{t: t, srv: srv, ts: ts, c: newClient(t, ts), clock: clock}
}

func newClient(t *testing.T, ts *httptest.Server) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Transport:     ts.Client().Transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends one request with client c; hdr values are set as given, and
// XSRF is added from the jar unless noXSRF.
func (l *lab) do(c *http.Client, method, path string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	l.t.Helper()
	req, err := http.NewRequest(method, l.ts.URL+path, body)
	if err != nil {
		l.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		l.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		l.t.Fatal(err)
	}
	return resp, b
}

func (l *lab) cookie(c *http.Client, name string) string {
	u, _ := url.Parse(l.ts.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func (l *lab) login(c *http.Client) *http.Response {
	l.t.Helper()
	form := url.Values{"username": {testUser}, "password": {testPass}}
	resp, body := l.do(c, "POST", "/token/v2/authenticate", strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != 200 {
		l.t.Fatalf("login: got %d %s, want 200", resp.StatusCode, body)
	}
	return resp
}

func (l *lab) xsrfHeader(c *http.Client, extra map[string]string) map[string]string {
	h := map[string]string{HeaderXSRF: l.cookie(c, CookieXSRF)}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

func (l *lab) getConfig(c *http.Client) (map[string]any, string) {
	l.t.Helper()
	resp, body := l.do(c, "GET", "/cm/config/appliance/"+testID+"/config", nil, nil)
	if resp.StatusCode != 200 {
		l.t.Fatalf("GET config: got %d %s", resp.StatusCode, body)
	}
	doc, err := decodeDocument(body)
	if err != nil {
		l.t.Fatal(err)
	}
	return doc, resp.Header.Get("ETag")
}

func (l *lab) putConfig(c *http.Client, doc map[string]any, etag string) (*http.Response, []byte) {
	l.t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		l.t.Fatal(err)
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	if etag != "" {
		hdr["If-Match"] = etag
	}
	return l.do(c, "PUT", "/cm/config/appliance/"+testID+"/config", bytes.NewReader(b), l.xsrfHeader(c, hdr))
}

func (l *lab) configState(c *http.Client) string {
	l.t.Helper()
	resp, body := l.do(c, "GET", "/cm/config/appliance/"+testID+"/status", nil, nil)
	if resp.StatusCode != 200 {
		l.t.Fatalf("GET status: got %d %s", resp.StatusCode, body)
	}
	var st struct{ ConfigState string }
	if err := json.Unmarshal(body, &st); err != nil {
		l.t.Fatal(err)
	}
	return st.ConfigState
}

// waitFinal polls status like a client would: a bounded number of polls,
// advancing the fake clock between them, until a final state shows.
func (l *lab) waitFinal(c *http.Client) string {
	l.t.Helper()
	for range 100 {
		switch st := l.configState(c); st {
		case ConfigStateUpToDate, ConfigStateApplyFailed:
			return st
		}
		l.clock.Advance(50 * time.Millisecond)
	}
	l.t.Fatal("configState never became final")
	return ""
}

func (l *lab) stage(c *http.Client, friendlyName string, content []byte, partType string) (*http.Response, []byte) {
	l.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("friendlyName", friendlyName); err != nil {
		l.t.Fatal(err)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="targetCertificateFile"; filename="cert.pem"`)
	h.Set("Content-Type", partType)
	pw, err := mw.CreatePart(h)
	if err != nil {
		l.t.Fatal(err)
	}
	_, _ = pw.Write(content)
	if err := mw.Close(); err != nil {
		l.t.Fatal(err)
	}
	return l.do(c, "PUT", "/cm/config/appliance/"+testID+"/certificate/csr", &buf,
		l.xsrfHeader(c, map[string]string{"Content-Type": mw.FormDataContentType()}))
}

// makePEM returns a fresh self-signed certificate as PEM with a trailing
// newline, as openssl writes it.
func makePEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4242),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func trustEntries(doc map[string]any) []any {
	return doc[KeyConfigurableElements].(map[string]any)[KeyTrustStore].(map[string]any)[KeyTrustedCertificates].([]any)
}

func setTrustEntries(doc map[string]any, entries []any) {
	doc[KeyConfigurableElements].(map[string]any)[KeyTrustStore].(map[string]any)[KeyTrustedCertificates] = entries
}

func smtpOf(doc map[string]any) map[string]any {
	return doc[KeyConfigurableElements].(map[string]any)[SMTPElement].(map[string]any)
}

func TestLogin(t *testing.T) {
	l := newLab(t, nil)
	form := func(user, pass string) io.Reader {
		return strings.NewReader(url.Values{"username": {user}, "password": {pass}}.Encode())
	}
	formCT := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

	resp, _ := l.do(l.c, "POST", "/token/v2/authenticate", form(testUser, "wrong"), formCT)
	if resp.StatusCode != 401 {
		t.Errorf("bad password: got %d, want 401", resp.StatusCode)
	}
	body, _ := json.Marshal(map[string]string{"username": testUser, "password": testPass})
	resp, _ = l.do(l.c, "POST", "/token/v2/authenticate", bytes.NewReader(body), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != 415 {
		t.Errorf("JSON body: got %d, want 415", resp.StatusCode)
	}

	resp, b := l.do(l.c, "POST", "/token/v2/authenticate", form(testUser, testPass), formCT)
	if resp.StatusCode != 200 {
		t.Fatalf("good login: got %d %s, want 200", resp.StatusCode, b)
	}
	var lr struct{ TokenTtlInSeconds int }
	if err := json.Unmarshal(b, &lr); err != nil || lr.TokenTtlInSeconds != 1200 {
		t.Errorf("login body %s: got ttl %d (%v), want 1200", b, lr.TokenTtlInSeconds, err)
	}
	if l.cookie(l.c, CookieJWT) == "" || l.cookie(l.c, CookieXSRF) == "" {
		t.Errorf("login set cookies %v, want %s and %s", resp.Cookies(), CookieJWT, CookieXSRF)
	}
	if got := l.srv.Stats().Logins; got != 1 {
		t.Errorf("Stats.Logins: got %d, want 1", got)
	}

	// An empty configured password never matches.
	l2 := newLab(t, func(o *Options) { o.Password = "" })
	resp, _ = l2.do(l2.c, "POST", "/token/v2/authenticate", form(testUser, ""), formCT)
	if resp.StatusCode != 401 {
		t.Errorf("empty configured password: got %d, want 401", resp.StatusCode)
	}
}

func TestUnauthenticated(t *testing.T) {
	l := newLab(t, nil)
	for _, p := range []string{"/fqdn", "/cm/inventory/appliances", "/cm/config/appliance/" + testID + "/config"} {
		if resp, _ := l.do(l.c, "GET", p, nil, nil); resp.StatusCode != 401 {
			t.Errorf("GET %s without login: got %d, want 401", p, resp.StatusCode)
		}
	}
}

func TestXSRF(t *testing.T) {
	l := newLab(t, nil)
	l.login(l.c)
	doc, etag := l.getConfig(l.c)
	b, _ := json.Marshal(doc)
	for _, tc := range []struct {
		name string
		xsrf string
	}{{"missing", ""}, {"wrong", "not-the-token"}} {
		hdr := map[string]string{"Content-Type": "application/json", "If-Match": etag}
		if tc.xsrf != "" {
			hdr[HeaderXSRF] = tc.xsrf
		}
		resp, _ := l.do(l.c, "PUT", "/cm/config/appliance/"+testID+"/config", bytes.NewReader(b), hdr)
		if resp.StatusCode != 403 {
			t.Errorf("PUT with %s XSRF header: got %d, want 403", tc.name, resp.StatusCode)
		}
	}
	if resp, _ := l.do(l.c, "POST", "/token/v2", nil, nil); resp.StatusCode != 403 {
		t.Errorf("renew without XSRF: got %d, want 403", resp.StatusCode)
	}
	if resp, _ := l.putConfig(l.c, doc, etag); resp.StatusCode != 200 {
		t.Errorf("PUT with XSRF: got %d, want 200", resp.StatusCode)
	}
}

func TestExpiry(t *testing.T) {
	l := newLab(t, func(o *Options) { o.TokenTTL = 10 * time.Minute })
	l.login(l.c)
	l.clock.Advance(10*time.Minute - time.Second)
	if resp, _ := l.do(l.c, "GET", "/fqdn", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("before TTL: got %d, want 200", resp.StatusCode)
	}
	l.clock.Advance(time.Second)
	if resp, _ := l.do(l.c, "GET", "/fqdn", nil, nil); resp.StatusCode != 401 {
		t.Errorf("at TTL: got %d, want 401", resp.StatusCode)
	}
}

func TestExpireTokens(t *testing.T) {
	l := newLab(t, nil)
	l.login(l.c)
	l.srv.ExpireTokens()
	if resp, _ := l.do(l.c, "GET", "/cm/inventory/appliances", nil, nil); resp.StatusCode != 401 {
		t.Errorf("after ExpireTokens: got %d, want 401", resp.StatusCode)
	}
	l.login(l.c) // a new login works again
	if resp, _ := l.do(l.c, "GET", "/cm/inventory/appliances", nil, nil); resp.StatusCode != 200 {
		t.Errorf("after new login: got %d, want 200", resp.StatusCode)
	}
}

func TestRenewal(t *testing.T) {
	l := newLab(t, nil)
	l.login(l.c)
	oldXSRF, jwt := l.cookie(l.c, CookieXSRF), l.cookie(l.c, CookieJWT)
	l.clock.Advance(DefaultTokenTTL - time.Minute)

	resp, body := l.do(l.c, "POST", "/token/v2", nil, l.xsrfHeader(l.c, nil))
	if resp.StatusCode != 200 {
		t.Fatalf("renew: got %d %s, want 200", resp.StatusCode, body)
	}
	newXSRF := l.cookie(l.c, CookieXSRF)
	if newXSRF == oldXSRF || newXSRF == "" {
		t.Errorf("renew: XSRF cookie %q, want a new value (old %q)", newXSRF, oldXSRF)
	}
	// Cisco's script replaces its jar with the renewal's cookies, so the
	// jwt must come back too.
	var sawJWT bool
	for _, c := range resp.Cookies() {
		sawJWT = sawJWT || (c.Name == CookieJWT && c.Value == jwt)
	}
	if !sawJWT {
		t.Errorf("renew response cookies %v: want %s re-sent", resp.Cookies(), CookieJWT)
	}

	// The TTL restarted: past the original expiry the session still works.
	l.clock.Advance(2 * time.Minute)
	if resp, _ := l.do(l.c, "GET", "/fqdn", nil, nil); resp.StatusCode != 200 {
		t.Errorf("after renewal, past first expiry: got %d, want 200", resp.StatusCode)
	}
	// The old XSRF value is dead.
	resp, _ = l.do(l.c, "POST", "/token/v2", nil, map[string]string{HeaderXSRF: oldXSRF})
	if resp.StatusCode != 403 {
		t.Errorf("renew with old XSRF: got %d, want 403", resp.StatusCode)
	}
	if got := l.srv.Stats().Renewals; got != 1 {
		t.Errorf("Stats.Renewals: got %d, want 1", got)
	}
}

func TestLogout(t *testing.T) {
	l := newLab(t, nil)
	l.login(l.c)
	jwt := l.cookie(l.c, CookieJWT)
	if resp, _ := l.do(l.c, "DELETE", "/token", nil, nil); resp.StatusCode != 403 {
		t.Errorf("logout without XSRF: got %d, want 403", resp.StatusCode)
	}
	if resp, _ := l.do(l.c, "DELETE", "/token", nil, l.xsrfHeader(l.c, nil)); resp.StatusCode != 204 {
		t.Fatalf("logout: got %d, want 204", resp.StatusCode)
	}
	// Replay the old jwt explicitly: the jar has dropped it.
	c := &http.Client{Transport: l.c.Transport}
	req, _ := http.NewRequest("GET", l.ts.URL+"/fqdn", nil)
	req.AddCookie(&http.Cookie{Name: CookieJWT, Value: jwt})
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("old jwt after logout: got %d, want 401", resp.StatusCode)
	}
	if got := l.srv.Stats().Logouts; got != 1 {
		t.Errorf("Stats.Logouts: got %d, want 1", got)
	}
}

func TestFQDN(t *testing.T) {
	l := newLab(t, nil)
	l.login(l.c)
	resp, body := l.do(l.c, "GET", "/fqdn", nil, map[string]string{"Accept": "application/json, text/plain, */*"})
	if resp.StatusCode != 200 || string(body) != "smc-01.lab.example" {
		t.Errorf("GET /fqdn: got %d %q, want 200 %q", resp.StatusCode, body, "smc-01.lab.example")
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /fqdn Content-Type: got %q, want text/plain", ct)
	}
	if resp, _ := l.do(l.c, "GET", "/fqdn", nil, map[string]string{"Accept": "application/json"}); resp.StatusCode != 406 {
		t.Errorf("GET /fqdn accepting only JSON: got %d, want 406", resp.StatusCode)
	}
}

func TestInventoryAndStatus(t *testing.T) {
	l := newLab(t, nil)
	l.login(l.c)
	resp, body := l.do(l.c, "GET", "/cm/inventory/appliances", nil, map[string]string{"Accept": "application/json, text/plain, */*"})
	if resp.StatusCode != 200 {
		t.Fatalf("inventory: got %d", resp.StatusCode)
	}
	var inv []struct{ ID, FQDN, ApplianceType string }
	if err := json.Unmarshal(body, &inv); err != nil {
		t.Fatal(err)
	}
	want := []struct{ ID, FQDN, ApplianceType string }{
		{testID, "smc-01.lab.example", "SMC"},
		{otherID, "fc-01.lab.example", "FlowCollector"},
	}
	if fmt.Sprint(inv) != fmt.Sprint(want) {
		t.Errorf("inventory: got %v, want %v", inv, want)
	}

	resp, body = l.do(l.c, "GET", "/cm/monitor/appliances/status", nil, nil)
	var st []map[string]string
	if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != 200 || len(st) != 2 {
		t.Fatalf("appliances status: got %d %s (%v)", resp.StatusCode, body, err)
	}
	for _, a := range st {
		if a["configurationChannelStatus"] != "up" {
			t.Errorf("status of %s: got %q, want up", a["fqdn"], a["configurationChannelStatus"])
		}
	}
	if st[0]["applianceType"] != "SMC" {
		t.Errorf("status[0].applianceType: got %q, want SMC", st[0]["applianceType"])
	}

	if got := l.configState(l.c); got != ConfigStateUpToDate {
		t.Errorf("configState: got %q, want %q", got, ConfigStateUpToDate)
	}
	if resp, _ := l.do(l.c, "GET", "/cm/config/appliance/"+otherID+"/status", nil, nil); resp.StatusCode != 200 {
		t.Errorf("status of the Flow Collector: got %d, want 200", resp.StatusCode)
	}
	for _, p := range []string{"/cm/config/appliance/nope/status", "/cm/config/appliance/nope/config", "/cm/config/appliance/" + otherID + "/config"} {
		if resp, _ := l.do(l.c, "GET", p, nil, nil); resp.StatusCode != 404 {
			t.Errorf("GET %s: got %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestConfigETagAndApply(t *testing.T) {
	l := newLab(t, nil)
	l.login(l.c)
	doc, etag := l.getConfig(l.c)
	if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("ETag: got %q, want a strong quoted tag", etag)
	}
	if _, etag2 := l.getConfig(l.c); etag2 != etag {
		t.Errorf("ETag of an unchanged document: got %q then %q", etag, etag2)
	}

	// A second client changes the document behind the first one's back.
	other := newClient(t, l.ts)
	l.login(other)
	doc2, _ := l.getConfig(other)
	doc2[KeyConfigurableElements].(map[string]any)["ntpServers"] = []any{"198.51.100.7"}
	if resp, body := l.putConfig(other, doc2, etag); resp.StatusCode != 200 {
		t.Fatalf("second client PUT: got %d %s", resp.StatusCode, body)
	}
	if got := l.configState(l.c); got != ConfigStateApplying {
		t.Errorf("configState right after PUT: got %q, want %q", got, ConfigStateApplying)
	}

	if resp, _ := l.putConfig(l.c, doc, ""); resp.StatusCode != 428 {
		t.Errorf("PUT without If-Match: got %d, want 428", resp.StatusCode)
	}
	if resp, _ := l.putConfig(l.c, doc, etag); resp.StatusCode != 409 {
		t.Errorf("PUT during apply: got %d, want 409", resp.StatusCode)
	}
	if got := l.waitFinal(l.c); got != ConfigStateUpToDate {
		t.Fatalf("after apply: got %q, want %q", got, ConfigStateUpToDate)
	}
	if resp, _ := l.putConfig(l.c, doc, etag); resp.StatusCode != 412 {
		t.Errorf("PUT with stale ETag: got %d, want 412", resp.StatusCode)
	}
	if resp, _ := l.putConfig(l.c, doc, "*"); resp.StatusCode != 412 {
		t.Errorf(`PUT with If-Match "*": got %d, want 412`, resp.StatusCode)
	}

	// Re-read, re-apply: the documented cycle works.
	doc, etag = l.getConfig(l.c)
	resp, body := l.putConfig(l.c, doc, etag)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == "" {
		t.Fatalf("PUT after re-read: got %d %s (ETag %q)", resp.StatusCode, body, resp.Header.Get("ETag"))
	}
	if got := l.waitFinal(l.c); got != ConfigStateUpToDate {
		t.Errorf("after second apply: got %q", got)
	}
	st := l.srv.Stats()
	if st.Puts != 2 {
		t.Errorf("Stats.Puts: got %d, want 2", st.Puts)
	}
	if n := st.Requests["PUT /cm/config/appliance/{id}/config"]; n != 6 {
		t.Errorf(`Stats.Requests["PUT …/config"]: got %d, want 6`, n)
	}
}

// TestApplyRealClock runs an apply on the real clock: the loop is bounded
// by a count, and nothing asserts how long it took.
func TestApplyRealClock(t *testing.T) {
	l := newLab(t, func(o *Options) { o.Now = nil; o.ApplyDelay = 20 * time.Millisecond })
	l.login(l.c)
	doc, etag := l.getConfig(l.c)
	if resp, body := l.putConfig(l.c, doc, etag); resp.StatusCode != 200 {
		t.Fatalf("PUT: got %d %s", resp.StatusCode, body)
	}
	for i := 0; ; i++ {
		if l.configState(l.c) == ConfigStateUpToDate {
			break
		}
		if i == 500 {
			t.Fatal("configState never returned to UP_TO_DATE")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFailNextApply(t *testing.T) {
	l := newLab(t, nil)
	l.login(l.c)
	doc, etag := l.getConfig(l.c)
	pemText := makePEM(t, "email-smtp.us-east-1.amazonaws.com")
	resp, body := l.stage(l.c, "ses-leaf", pemText, "application/x-x509-ca-cert")
	if resp.StatusCode != 200 {
		t.Fatalf("stage: got %d %s", resp.StatusCode, body)
	}
	var staged []any
	_ = json.Unmarshal(body, &staged)
	setTrustEntries(doc, append(trustEntries(doc), map[string]any{"friendlyName": "ses-leaf", "certificate": staged[0]}))

	l.srv.FailNextApply(true)
	if resp, body := l.putConfig(l.c, doc, etag); resp.StatusCode != 200 {
		t.Fatalf("PUT: got %d %s", resp.StatusCode, body)
	}
	if got := l.waitFinal(l.c); got != ConfigStateApplyFailed {
		t.Fatalf("after failing apply: got %q, want %q", got, ConfigStateApplyFailed)
	}
	// The Manager still runs the old trust store.
	if got := len(l.srv.TrustedCertificates()); got != 2 {
		t.Errorf("TrustedCertificates after failed apply: got %d, want 2 (the seed)", got)
	}
	// The failure is one-shot: the next apply succeeds.
	doc, etag = l.getConfig(l.c)
	if resp, body := l.putConfig(l.c, doc, etag); resp.StatusCode != 200 {
		t.Fatalf("PUT again: got %d %s", resp.StatusCode, body)
	}
	if got := l.waitFinal(l.c); got != ConfigStateUpToDate {
		t.Errorf("retry: got %q, want %q", got, ConfigStateUpToDate)
	}
	if got := len(l.srv.TrustedCertificates()); got != 3 {
		t.Errorf("TrustedCertificates after successful apply: got %d, want 3", got)
	}
}

func TestStaging(t *testing.T) {
	l := newLab(t, nil)
	l.login(l.c)
	_, etagBefore := l.getConfig(l.c)
	pemText := makePEM(t, "Amazon RSA 2048 M02")

	resp, body := l.stage(l.c, "Amazon.RSA-2048_M02", pemText, "application/x-x509-ca-cert")
	if resp.StatusCode != 200 {
		t.Fatalf("stage real PEM: got %d %s, want 200", resp.StatusCode, body)
	}
	var staged []map[string]any
	if err := json.Unmarshal(body, &staged); err != nil || len(staged) == 0 {
		t.Fatalf("stage body %s: %v", body, err)
	}
	obj := staged[0]
	if got, want := obj["content"], strings.TrimSpace(string(pemText)); got != want {
		t.Errorf("staged content: got %q, want the upload without trailing whitespace %q", got, want)
	}
	if got := obj["subject"]; got != "CN=Amazon RSA 2048 M02" {
		t.Errorf("staged subject: got %v", got)
	}
	if got := obj["serialNumber"]; got != "4242" {
		t.Errorf("staged serialNumber: got %v, want 4242", got)
	}
	for _, k := range []string{"issuer", "notBefore", "notAfter"} {
		if obj[k] == nil {
			t.Errorf("staged object lacks %q: %v", k, obj)
		}
	}
	if _, etagAfter := l.getConfig(l.c); etagAfter != etagBefore {
		t.Errorf("staging changed the document: ETag %s → %s", etagBefore, etagAfter)
	}

	// Leading text from openssl s_client output is tolerated.
	withNoise := append([]byte(" 0 s:CN = Amazon RSA 2048 M02\n   i:CN = Amazon Root CA 1\n"), pemText...)
	if resp, body := l.stage(l.c, "noisy", withNoise, "application/x-x509-ca-cert"); resp.StatusCode != 200 {
		t.Errorf("stage PEM with leading text: got %d %s, want 200", resp.StatusCode, body)
	}

	badDER := []byte("-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("k")})
	for _, tc := range []struct {
		name, friendly string
		content        []byte
		partType       string
		want           int
	}{
		{"garbage", "x", []byte("this is not a certificate"), "application/x-x509-ca-cert", 400},
		{"bad DER", "x", badDER, "application/x-x509-ca-cert", 400},
		{"two certificates", "x", append(append([]byte{}, pemText...), makePEM(t, "other")...), "application/x-x509-ca-cert", 400},
		{"certificate plus key", "x", append(append([]byte{}, pemText...), key...), "application/x-x509-ca-cert", 400},
		{"friendly name with space", "Amazon Root CA 1", pemText, "application/x-x509-ca-cert", 400},
		{"empty friendly name", "", pemText, "application/x-x509-ca-cert", 400},
		{"wrong part type", "x", pemText, "application/octet-stream", 415},
	} {
		if resp, body := l.stage(l.c, tc.friendly, tc.content, tc.partType); resp.StatusCode != tc.want {
			t.Errorf("stage %s: got %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
	}
	if got := l.srv.Stats().Stagings; got != 2 {
		t.Errorf("Stats.Stagings: got %d, want 2", got)
	}
}

func TestTrustStoreAddAndValidate(t *testing.T) {
	l := newLab(t, nil)
	l.login(l.c)
	pemText := makePEM(t, "Starfield Services Root Certificate Authority - G2")
	_, body := l.stage(l.c, "StarfieldServicesRootCertificateAuthority-G2", pemText, "application/x-x509-ca-cert")
	var staged []any
	if err := json.Unmarshal(body, &staged); err != nil {
		t.Fatal(err)
	}

	doc, etag := l.getConfig(l.c)
	seed := trustEntries(doc)
	entry := map[string]any{"friendlyName": "StarfieldServicesRootCertificateAuthority-G2", "certificate": staged[0]}
	for _, tc := range []struct {
		name    string
		entries []any
	}{
		{"bad friendly name", append(append([]any{}, seed...), map[string]any{"friendlyName": "Starfield G2", "certificate": staged[0]})},
		{"garbage content", append(append([]any{}, seed...), map[string]any{"friendlyName": "x", "certificate": map[string]any{"content": "nope"}})},
		{"duplicate certificate", append(append([]any{}, seed...), entry, map[string]any{"friendlyName": "again", "certificate": staged[0]})},
		{"duplicate name", append(append([]any{}, seed...), map[string]any{"friendlyName": SeedIdentityCAName, "certificate": staged[0]})},
	} {
		bad := deepCopyMap(doc)
		setTrustEntries(bad, tc.entries)
		if resp, body := l.putConfig(l.c, bad, etag); resp.StatusCode != 400 {
			t.Errorf("PUT with %s: got %d %s, want 400", tc.name, resp.StatusCode, body)
		}
	}
	resp, _ := l.do(l.c, "PUT", "/cm/config/appliance/"+testID+"/config", strings.NewReader("{not json"),
		l.xsrfHeader(l.c, map[string]string{"Content-Type": "application/json", "If-Match": etag}))
	if resp.StatusCode != 400 {
		t.Errorf("PUT invalid JSON: got %d, want 400", resp.StatusCode)
	}

	setTrustEntries(doc, append(seed, entry))
	if resp, body := l.putConfig(l.c, doc, etag); resp.StatusCode != 200 {
		t.Fatalf("PUT with staged entry: got %d %s", resp.StatusCode, body)
	}
	if got := l.waitFinal(l.c); got != ConfigStateUpToDate {
		t.Fatalf("apply: got %q", got)
	}
	block, _ := pem.Decode(pemText)
	want := sha256.Sum256(block.Bytes)
	var found bool
	for _, c := range l.srv.TrustedCertificates() {
		found = found || sha256.Sum256(c.Raw) == want
	}
	if !found {
		t.Error("TrustedCertificates lacks the added certificate")
	}
	names := map[string]bool{}
	for _, e := range trustEntries(l.srv.Document()) {
		names[e.(map[string]any)["friendlyName"].(string)] = true
	}
	for _, n := range SeedFriendlyNames() {
		if !names[n] {
			t.Errorf("seed entry %q lost", n)
		}
	}
}

func TestUnknownFieldsPreserved(t *testing.T) {
	l := newLab(t, nil)
	l.login(l.c)
	doc, etag := l.getConfig(l.c)
	ce := doc[KeyConfigurableElements].(map[string]any)
	ce["futureElement"] = map[string]any{"big": json.Number("12345678901234567890"), "nested": []any{true, nil, "x"}}
	if resp, body := l.putConfig(l.c, doc, etag); resp.StatusCode != 200 {
		t.Fatalf("PUT: got %d %s", resp.StatusCode, body)
	}
	l.waitFinal(l.c)

	got, etag := l.getConfig(l.c)
	gotJSON, _ := json.Marshal(got[KeyConfigurableElements].(map[string]any)["futureElement"])
	if want := `{"big":12345678901234567890,"nested":[true,null,"x"]}`; string(gotJSON) != want {
		t.Errorf("futureElement: got %s, want %s", gotJSON, want)
	}
	for _, k := range []string{"dnsServers", "ntpServers", "syslogForwarding", "futureElement"} {
		if _, ok := l.srv.Document()[KeyConfigurableElements].(map[string]any)[k]; !ok {
			t.Errorf("Document lost configurableElements.%s", k)
		}
	}

	// A client that drops what it does not know is refused.
	delete(got[KeyConfigurableElements].(map[string]any), "dnsServers")
	delete(got, "applianceId")
	resp, body := l.putConfig(l.c, got, etag)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "configurableElements.dnsServers") || !strings.Contains(string(body), "applianceId") {
		t.Errorf("PUT dropping elements: got %d %s, want 400 naming them", resp.StatusCode, body)
	}
}

func TestNotPrimary(t *testing.T) {
	l := newLab(t, func(o *Options) { o.Primary = false })
	l.login(l.c)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/cm/inventory/appliances"},
		{"GET", "/cm/config/appliance/" + testID + "/config"},
		{"PUT", "/cm/config/appliance/" + testID + "/config"},
	} {
		resp, _ := l.do(l.c, tc.method, tc.path, nil, l.xsrfHeader(l.c, nil))
		if resp.StatusCode != 307 {
			t.Errorf("%s %s on a secondary: got %d, want 307", tc.method, tc.path, resp.StatusCode)
		}
		if loc := resp.Header.Get("Location"); loc != "https://primary-smc-01.lab.example"+tc.path {
			t.Errorf("%s %s Location: got %q", tc.method, tc.path, loc)
		}
	}
	if resp, _ := l.do(l.c, "GET", "/fqdn", nil, nil); resp.StatusCode != 200 {
		t.Errorf("GET /fqdn on a secondary: got %d, want 200", resp.StatusCode)
	}
}

func TestPasswordMasking(t *testing.T) {
	l := newLab(t, nil)
	l.login(l.c)
	doc, etag := l.getConfig(l.c)
	if got := smtpOf(doc)["password"]; got != "" {
		t.Errorf("unset password in GET: got %q, want empty", got)
	}
	smtp := smtpOf(doc)
	smtp["server"] = "email-smtp.us-east-1.amazonaws.com"
	smtp["port"] = 587
	smtp["fromEmail"] = "alerts@example.com"
	smtp["userName"] = "AKIAEXAMPLE"
	smtp["password"] = "ses-secret"
	smtp["encryption"] = EncryptionSTARTTLS
	resp, body := l.putConfig(l.c, doc, etag)
	if resp.StatusCode != 200 {
		t.Fatalf("PUT smtp: got %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "ses-secret") {
		t.Errorf("PUT response shows the password: %s", body)
	}
	l.waitFinal(l.c)

	doc, etag = l.getConfig(l.c)
	if got := smtpOf(doc)["password"]; got != PasswordMask {
		t.Errorf("GET password: got %q, want %q", got, PasswordMask)
	}
	want := SMTPSettings{Server: "email-smtp.us-east-1.amazonaws.com", Port: 587, FromEmail: "alerts@example.com", UserName: "AKIAEXAMPLE", Password: "ses-secret", Encryption: "STARTTLS"}
	if got := l.srv.SMTP(); got != want {
		t.Errorf("SMTP(): got %+v, want %+v", got, want)
	}

	// Echoing the mask keeps the password while other fields change.
	smtpOf(doc)["port"] = 2587
	if resp, body := l.putConfig(l.c, doc, etag); resp.StatusCode != 200 {
		t.Fatalf("PUT with mask: got %d %s", resp.StatusCode, body)
	}
	l.waitFinal(l.c)
	want.Port = 2587
	if got := l.srv.SMTP(); got != want {
		t.Errorf("SMTP() after mask round trip: got %+v, want %+v", got, want)
	}

	// A new value replaces it.
	doc, etag = l.getConfig(l.c)
	smtpOf(doc)["password"] = "rotated"
	if resp, body := l.putConfig(l.c, doc, etag); resp.StatusCode != 200 {
		t.Fatalf("PUT new password: got %d %s", resp.StatusCode, body)
	}
	l.waitFinal(l.c)
	if got := l.srv.SMTP().Password; got != "rotated" {
		t.Errorf("SMTP().Password: got %q, want rotated", got)
	}

	// Field checks of the (assumed) SMTP section.
	doc, etag = l.getConfig(l.c)
	for k, v := range map[string]any{"encryption": "TLS", "port": 70000} {
		bad := deepCopyMap(doc)
		smtpOf(bad)[k] = v
		if resp, _ := l.putConfig(l.c, bad, etag); resp.StatusCode != 400 {
			t.Errorf("PUT smtp.%s=%v: got %d, want 400", k, v, resp.StatusCode)
		}
	}
}

func TestSetDocumentWithoutSMTP(t *testing.T) {
	l := newLab(t, nil)
	doc := l.srv.Document()
	delete(doc[KeyConfigurableElements].(map[string]any), SMTPElement)
	if err := l.srv.SetDocument(doc); err != nil {
		t.Fatal(err)
	}
	if got := l.srv.SMTP(); got != (SMTPSettings{}) {
		t.Errorf("SMTP() without section: got %+v, want zero", got)
	}
	l.login(l.c)
	got, etag := l.getConfig(l.c)
	if _, ok := got[KeyConfigurableElements].(map[string]any)[SMTPElement]; ok {
		t.Error("GET shows an smtp section after SetDocument removed it")
	}
	if resp, body := l.putConfig(l.c, got, etag); resp.StatusCode != 200 {
		t.Errorf("PUT back: got %d %s", resp.StatusCode, body)
	}
}

func TestFaultKnobs(t *testing.T) {
	l := newLab(t, nil)
	l.login(l.c)
	doc, etag := l.getConfig(l.c)

	l.srv.Conflict(2)
	for i := range 2 {
		if resp, _ := l.putConfig(l.c, doc, etag); resp.StatusCode != 409 {
			t.Errorf("PUT %d with Conflict(2): got %d, want 409", i, resp.StatusCode)
		}
	}
	if resp, body := l.putConfig(l.c, doc, etag); resp.StatusCode != 200 {
		t.Errorf("PUT after conflicts: got %d %s, want 200", resp.StatusCode, body)
	}

	l.srv.ServerErrors(1)
	resp, body := l.do(l.c, "GET", "/cm/inventory/appliances", nil, nil)
	var e struct {
		Status  int
		Message string
	}
	if resp.StatusCode != 503 || json.Unmarshal(body, &e) != nil || e.Status != 503 {
		t.Errorf("with ServerErrors(1): got %d %s, want 503 with a JSON body", resp.StatusCode, body)
	}
	if resp, _ := l.do(l.c, "GET", "/cm/inventory/appliances", nil, nil); resp.StatusCode != 200 {
		t.Errorf("after the fault: got %d, want 200", resp.StatusCode)
	}
}

func TestConcurrentClients(t *testing.T) {
	l := newLab(t, nil)
	var wg sync.WaitGroup
	for range 8 {
		c := newClient(t, l.ts)
		wg.Go(func() {
			form := url.Values{"username": {testUser}, "password": {testPass}}
			req, _ := http.NewRequest("POST", l.ts.URL+"/token/v2/authenticate", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
			}
			for range 10 {
				if resp, err := c.Get(l.ts.URL + "/cm/config/appliance/" + testID + "/config"); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				_ = l.srv.Document()
				_ = l.srv.TrustedCertificates()
			}
		})
	}
	wg.Wait()
	st := l.srv.Stats()
	if st.Logins != 8 || st.Requests["GET /cm/config/appliance/{id}/config"] != 80 {
		t.Errorf("Stats after concurrent clients: got logins %d, GET config %d; want 8, 80", st.Logins, st.Requests["GET /cm/config/appliance/{id}/config"])
	}
}
