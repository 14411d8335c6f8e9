package smc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Session cookie names and timing (smc-api.md "Login").
const (
	cookieJWT  = "stealthwatch.jwt"
	cookieXSRF = "XSRF-TOKEN"
	// defaultTTL is assumed when a login answer lacks tokenTtlInSeconds.
	defaultTTL = 1200 * time.Second
	// renewBefore: renew when less than this much of the session remains,
	// so that a request never starts on a session about to end.
	renewBefore = 2 * time.Minute
)

const (
	pathLogin  = "/token/v2/authenticate"
	pathRenew  = "/token/v2"
	pathLogout = "/token"
)

// session is the client's view of its Manager session.
type session struct {
	gen     int               // increases with every login; identifies the session a request used
	valid   bool              // false before the first login, after logout or after a 401
	cookies map[string]string // every cookie the login/renewal set, jwt and XSRF included
	expires time.Time         // by Config.Now
	ttl     time.Duration     // last tokenTtlInSeconds, for a renewal answer without one
}

// snapshot is what one request needs from the session.
type snapshot struct {
	gen    int
	cookie string // Cookie header value
	xsrf   string
	tokens []string // cookie values, redacted from error messages
}

func (s snapshot) values() []string { return s.tokens }

func (c *Client) snapshotLocked() snapshot {
	names := make([]string, 0, len(c.sess.cookies))
	for n := range c.sess.cookies {
		names = append(names, n)
	}
	sort.Strings(names) // a stable header makes captured requests comparable
	parts := make([]string, 0, len(names))
	tokens := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+"="+c.sess.cookies[n])
		tokens = append(tokens, c.sess.cookies[n])
	}
	return snapshot{gen: c.sess.gen, cookie: strings.Join(parts, "; "), xsrf: c.sess.cookies[cookieXSRF], tokens: tokens}
}

func (c *Client) lockSession(ctx context.Context) error {
	select {
	case c.sessSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) unlockSession() { <-c.sessSem }

// ensureSession returns a usable session: it logs in if there is none (or
// it has certainly expired) and renews one that is about to expire.
// Concurrent callers wait for one login rather than each logging in.
func (c *Client) ensureSession(ctx context.Context) (snapshot, error) {
	c.mu.Lock()
	left := c.sess.expires.Sub(c.cfg.Now())
	if c.sess.valid && left >= renewBefore {
		snap := c.snapshotLocked()
		c.mu.Unlock()
		return snap, nil
	}
	c.mu.Unlock()

	if err := c.lockSession(ctx); err != nil {
		return snapshot{}, &Error{Op: "log in", Method: http.MethodPost, Path: pathLogin, Message: err.Error(), Hint: "cancelled while waiting for another request's login", Err: err}
	}
	defer c.unlockSession()
	// Another goroutine may have logged in or renewed while this one waited.
	c.mu.Lock()
	valid := c.sess.valid
	left = c.sess.expires.Sub(c.cfg.Now())
	snap := c.snapshotLocked()
	c.mu.Unlock()
	switch {
	case valid && left >= renewBefore:
		return snap, nil
	case valid && left > 0:
		err := c.renew(ctx, snap)
		if err == nil {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.snapshotLocked(), nil
		}
		if e := (*Error)(nil); !errors.As(err, &e) || (e.Status != http.StatusUnauthorized && e.Status != http.StatusForbidden) {
			return snapshot{}, err
		}
		// The Manager ended the session before its TTL (401) or no longer
		// accepts its XSRF token (403): a fresh login fixes both.
	}
	if err := c.login(ctx); err != nil {
		return snapshot{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshotLocked(), nil
}

// login posts the credentials as a form (smc-api.md: the documented flow)
// and stores the session cookies. Its errors never contain the server's
// text: a server may echo the submitted form.
func (c *Client) login(ctx context.Context) error {
	form := url.Values{"username": {c.cfg.Username}, "password": {c.cred.password}}.Encode()
	r := &request{method: http.MethodPost, path: pathLogin, body: []byte(form), contentType: "application/x-www-form-urlencoded"}
	start := c.cfg.Now() // the TTL runs from before the request, to err early
	resp, err := c.call(ctx, "log in", r, authNone, snapshot{})
	if err != nil {
		return err
	}
	cookies := map[string]string{}
	mergeCookies(cookies, resp.Header)
	if cookies[cookieJWT] == "" {
		return &Error{Op: "log in", Method: r.method, Path: r.path, Status: resp.Status,
			Message: "the answer set no " + cookieJWT + " cookie",
			Hint:    "api.url may point at something other than the Manager's web interface, or a proxy strips cookies"}
	}
	ttl := ttlOf(resp.Body, defaultTTL)
	c.mu.Lock()
	wasRelogin := c.sess.gen > 0
	c.sess = &session{gen: c.sess.gen + 1, valid: true, cookies: cookies, expires: start.Add(ttl), ttl: ttl}
	c.stats.Logins++
	if wasRelogin {
		c.stats.Relogins++
	}
	c.mu.Unlock()
	return nil
}

// renew extends the session (POST /token/v2 with cookies and XSRF header)
// and re-reads the XSRF-TOKEN: the Manager issues a new one and the old
// value stops working.
func (c *Client) renew(ctx context.Context, snap snapshot) error {
	start := c.cfg.Now()
	resp, err := c.call(ctx, "renew session", &request{method: http.MethodPost, path: pathRenew}, authFixed, snap)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess.gen != snap.gen {
		return nil // a concurrent login replaced the session meanwhile
	}
	mergeCookies(c.sess.cookies, resp.Header)
	c.sess.ttl = ttlOf(resp.Body, c.sess.ttl)
	c.sess.expires = start.Add(c.sess.ttl)
	c.stats.Renewals++
	return nil
}

// xsrfChanged reports whether the session's XSRF token differs from the
// one snap carried.
func (c *Client) xsrfChanged(snap snapshot) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess.valid && c.sess.cookies[cookieXSRF] != snap.xsrf
}

// invalidate marks session gen as ended (after a 401), unless a newer
// session already replaced it.
func (c *Client) invalidate(gen int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess.gen == gen {
		c.sess.valid = false
	}
}

// Logout ends the session (DELETE /token). It does nothing if the client
// never logged in or already logged out. The client forgets the session
// whatever the answer, so a later call logs in again.
func (c *Client) Logout(ctx context.Context) error {
	if err := c.lockSession(ctx); err != nil {
		return err
	}
	defer c.unlockSession()
	c.mu.Lock()
	if !c.sess.valid {
		c.mu.Unlock()
		return nil
	}
	snap := c.snapshotLocked()
	c.sess.valid = false
	c.sess.cookies = nil
	c.stats.Logouts++
	c.mu.Unlock()
	_, err := c.call(ctx, "log out", &request{method: http.MethodDelete, path: pathLogout}, authFixed, snap)
	if e := (*Error)(nil); errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		return nil // the session had already ended: that is what was asked
	}
	return err
}

// mergeCookies applies Set-Cookie headers to jar: set, replace, or delete
// (empty value, Max-Age<0 or an expiry in the past).
func mergeCookies(jar map[string]string, h http.Header) {
	for _, ck := range (&http.Response{Header: h}).Cookies() {
		if ck.Value == "" || ck.MaxAge < 0 || (!ck.Expires.IsZero() && ck.Expires.Before(time.Now())) {
			delete(jar, ck.Name)
			continue
		}
		jar[ck.Name] = ck.Value
	}
}

// ttlOf reads tokenTtlInSeconds from a login or renewal answer.
func ttlOf(body []byte, fallback time.Duration) time.Duration {
	var v struct {
		TTL json.Number `json:"tokenTtlInSeconds"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return fallback
	}
	f, err := v.TTL.Float64()
	if err != nil || f <= 0 {
		return fallback
	}
	return time.Duration(f * float64(time.Second))
}
