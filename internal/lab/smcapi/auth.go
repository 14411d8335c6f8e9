package smcapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"time"
)

const pathLogin = "/token/v2/authenticate"

type session struct {
	xsrf    string
	expires time.Time
}

type sessionKey struct{}

// randomToken is an opaque value: smc-api.md only says the jwt is a cookie
// to send back, so nothing may depend on it being a parseable JWT.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// lookupSession finds the live session named by the jwt cookie, dropping
// it if its TTL has run out.
func (s *Server) lookupSession(r *http.Request) (string, session, bool) {
	c, err := r.Cookie(CookieJWT)
	if err != nil || c.Value == "" {
		return "", session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[c.Value]
	if !ok {
		return "", session{}, false
	}
	if !s.opts.Now().Before(sess.expires) {
		delete(s.sessions, c.Value)
		return "", session{}, false
	}
	return c.Value, *sess, true
}

func xsrfOK(r *http.Request, want string) bool {
	got := r.Header.Get(HeaderXSRF)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// setSessionCookies sends both cookies. They carry no expiry: the session
// ends on the server after the TTL, and a client must notice the 401.
// XSRF-TOKEN is not HttpOnly because the double-submit pattern needs the
// client to read it.
func setSessionCookies(w http.ResponseWriter, jwt, xsrf string) {
	http.SetCookie(w, &http.Cookie{Name: CookieJWT, Value: jwt, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: CookieXSRF, Value: xsrf, Path: "/", Secure: true, SameSite: http.SameSiteStrictMode})
}

func (s *Server) ttlBody() map[string]any {
	return map[string]any{"tokenTtlInSeconds": int64(s.opts.TokenTTL / time.Second)}
}

// handleLogin: smc-api.md "Login (documented by Cisco)": POST
// /token/v2/authenticate with a form body; 415 on a non-form body, 401 on
// bad credentials; sets stealthwatch.jwt and XSRF-TOKEN; body carries
// tokenTtlInSeconds.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !mediaTypeIs(r, "application/x-www-form-urlencoded") {
		writeError(w, r, http.StatusUnsupportedMediaType, "login body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		writeError(w, r, http.StatusBadRequest, "unreadable form body")
		return
	}
	user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
	if !s.credentialsOK(user, pass) {
		writeError(w, r, http.StatusUnauthorized, "bad credentials")
		return
	}
	if !accepts(r, "application/json") {
		writeError(w, r, http.StatusNotAcceptable, "this endpoint answers application/json")
		return
	}
	jwt, xsrf := randomToken(), randomToken()
	s.mu.Lock()
	s.sessions[jwt] = &session{xsrf: xsrf, expires: s.opts.Now().Add(s.opts.TokenTTL)}
	s.stats.Logins++
	s.mu.Unlock()
	setSessionCookies(w, jwt, xsrf)
	writeJSON(w, http.StatusOK, s.ttlBody())
}

func (s *Server) credentialsOK(user, pass string) bool {
	if s.opts.Password == "" {
		return false
	}
	u := subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Password))
	return u&p == 1
}

// handleRenew: smc-api.md "Login": renew with POST /token/v2 (cookies + XSRF
// header) and re-read the new XSRF-TOKEN. The TTL restarts; the old XSRF
// value stops working, so a client that keeps it gets 403.
func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request) {
	jwt, _ := r.Context().Value(sessionKey{}).(string)
	xsrf := randomToken()
	s.mu.Lock()
	sess, ok := s.sessions[jwt]
	if ok {
		sess.xsrf = xsrf
		sess.expires = s.opts.Now().Add(s.opts.TokenTTL)
		s.stats.Renewals++
	}
	s.mu.Unlock()
	if !ok {
		// Logged out or expired between the check in ServeHTTP and here.
		writeError(w, r, http.StatusUnauthorized, "session ended")
		return
	}
	setSessionCookies(w, jwt, xsrf)
	writeJSON(w, http.StatusOK, s.ttlBody())
}

// handleLogout: smc-api.md "Login": log out with DELETE /token. The session
// is dropped and the cookies expired.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	jwt, _ := r.Context().Value(sessionKey{}).(string)
	s.mu.Lock()
	if _, ok := s.sessions[jwt]; ok {
		delete(s.sessions, jwt)
		s.stats.Logouts++
	}
	s.mu.Unlock()
	for _, name := range []string{CookieJWT, CookieXSRF} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", Secure: true, MaxAge: -1})
	}
	w.WriteHeader(http.StatusNoContent)
}
