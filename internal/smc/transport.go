package smc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Response is a 2xx answer, or the answer inside an *Error. Its Header
// never contains Set-Cookie.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// accept is what Cisco's scripts send: some endpoints answer text/plain.
const accept = "application/json, text/plain, */*"

// maxResponse bounds a response body: a configuration document is tens of
// kilobytes, so anything near this is a broken or hostile server.
const maxResponse = 32 << 20

// Backoff bounds (see Config.Retries).
const (
	backoffBase = 500 * time.Millisecond
	backoffCap  = 8 * time.Second
)

type request struct {
	method, path string
	body         []byte
	contentType  string
	header       http.Header // extra headers (If-Match)
}

// auth says how a request is authenticated.
type auth int

const (
	authNone    auth = iota // the login itself
	authFixed               // renewal and logout: exactly the given session, no re-login
	authSession             // API calls: ensure a session, re-login once on 401
)

// Do sends an authenticated request to path (which must start with "/";
// absolute URLs are refused so the session never goes to another host).
// body may be nil; contentType is sent with a non-nil body.
//
// 409, 5xx and network errors are retried per Config.Retries for every
// method: GETs are safe, and the API's only configuration PUT is guarded by
// If-Match, so a repeated PUT cannot overwrite a newer document (see the
// package documentation). A 401 logs in again once and repeats the call.
//
// A 2xx answer is returned; any other status is an *Error whose Response
// holds the answer. Redirects are not followed: a 307 is an *Error saying
// this is not the primary Manager.
func (c *Client) Do(ctx context.Context, method, path string, body []byte, contentType string) (*Response, error) {
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		return nil, fmt.Errorf("smc request %s %q: path must start with a single /", method, path)
	}
	method = strings.ToUpper(method)
	resp, err := c.call(ctx, "request", &request{method: method, path: path, body: body, contentType: contentType}, authSession, snapshot{})
	if err != nil {
		return nil, err
	}
	return publicResponse(resp), nil
}

// call performs r with retries, returning the response (Set-Cookie
// included, for the session code) or an *Error.
func (c *Client) call(ctx context.Context, op string, r *request, mode auth, fixed snapshot) (*Response, error) {
	retries, relogged, reXSRF := 0, false, false
	for {
		snap := fixed
		if mode == authSession {
			var err error
			if snap, err = c.ensureSession(ctx); err != nil {
				return nil, err
			}
		}
		resp, err := c.once(ctx, r, snap)
		var retryAfter time.Duration
		switch {
		case err != nil:
			if !transient(ctx, err) || retries >= c.cfg.Retries {
				return nil, c.transportError(op, r, err)
			}
		case resp.Status >= 200 && resp.Status < 300:
			return resp, nil
		case resp.Status == http.StatusUnauthorized && mode == authSession && !relogged:
			// The session ended on the Manager (expired early, logged
			// out, restarted): log in again once, not in a loop.
			relogged = true
			c.invalidate(snap.gen)
			continue
		case resp.Status == http.StatusForbidden && mode == authSession && !reXSRF && c.xsrfChanged(snap):
			// A concurrent renewal replaced the XSRF token after this
			// request took its copy; the old value is refused. Repeat once
			// with the current one.
			reXSRF = true
			continue
		case resp.Status == http.StatusConflict || resp.Status >= 500:
			if retries >= c.cfg.Retries {
				return nil, c.statusError(op, r, resp, mode == authNone, snap.values()...)
			}
			retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
		default:
			return nil, c.statusError(op, r, resp, mode == authNone, snap.values()...)
		}
		retries++
		c.mu.Lock()
		c.stats.Retries++
		c.mu.Unlock()
		if err := sleep(ctx, max(c.backoff(retries), min(retryAfter, backoffCap))); err != nil {
			return nil, c.transportError(op, r, err)
		}
	}
}

// once sends one attempt, bounded by Config.Timeout including the body.
func (c *Client) once(ctx context.Context, r *request, snap snapshot) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+r.path, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if r.body != nil && r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if snap.cookie != "" {
		req.Header.Set("Cookie", snap.cookie)
	}
	if r.method != http.MethodGet && snap.xsrf != "" {
		// smc-api.md: every non-GET request carries the XSRF cookie's value.
		req.Header.Set("X-XSRF-TOKEN", snap.xsrf)
	}
	c.mu.Lock()
	c.stats.Requests[r.method]++
	c.mu.Unlock()

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if len(b) > maxResponse {
		return nil, errTooLarge
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// transient reports whether a failed attempt is worth repeating: network
// trouble is, a certificate that does not verify, an oversized answer or
// the caller's own cancellation are not.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var (
		pin     *PinError
		verify  *tls.CertificateVerificationError
		ua      x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		rec     tls.RecordHeaderError
	)
	if errors.As(err, &pin) || errors.As(err, &verify) || errors.As(err, &ua) ||
		errors.As(err, &host) || errors.As(err, &invalid) || errors.As(err, &rec) {
		return false
	}
	return !errors.Is(err, errTooLarge)
}

var errTooLarge = fmt.Errorf("response larger than %d bytes", maxResponse)

// defaultBackoff is 500ms doubling per retry, capped at 8s, with "equal
// jitter" (half fixed, half random) so that a fleet of clients that hit the
// same 409 does not retry in lockstep, yet never retries immediately.
func defaultBackoff(retry int) time.Duration {
	d := backoffBase << min(retry-1, 5)
	d = min(d, backoffCap)
	return d/2 + rand.N(d/2+1)
}

func parseRetryAfter(v string) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 0
}

// sleep waits d on a real timer, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
