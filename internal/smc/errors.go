package smc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
)

// ErrStale is wrapped by errors for HTTP 412: the configuration changed
// since it was read.
var ErrStale = errors.New("configuration changed since it was read (stale ETag)")

// ErrApplyFailed is wrapped by WaitApplied (and Update) when the Manager
// reports APPLY_CONFIG_FAILED.
var ErrApplyFailed = errors.New("the Manager failed to apply the configuration")

// centralLog is where the Manager logs Central Management (smc-api.md).
const centralLog = "/lancope/var/logs/containers/svc-central-management.log"

// Error is a failed API call. Every Error carries a Hint saying what to do.
// It never holds the password, cookies or session tokens.
type Error struct {
	Op      string // what the client was doing ("log in", "read configuration"…)
	Method  string
	Path    string
	Status  int    // HTTP status; 0 when no response arrived
	Message string // the server's message (redacted), or the network/TLS error
	Hint    string
	// Response is the answer that caused the error (nil when none arrived;
	// without Body for a login). Set-Cookie is removed from its Header.
	Response *Response
	// Err is the underlying cause for errors.Is/As: ErrStale,
	// ErrApplyFailed, a *PinError, an x509 error, a context error…
	Err error
}

// Error renders "<op>: <METHOD> <path>: <status text>: <server message>; <hint>",
// leaving out the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Method != "" || e.Path != "" {
		b.WriteString(": ")
		b.WriteString(strings.TrimSpace(e.Method + " " + e.Path))
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Hints for statuses whose advice does not depend on the call.
const (
	hintUnauthorized = "check api.username and api.password; Cisco recommends a dedicated API account (an API login logs out a UI session of the same user)"
	hintForbidden    = "the API account lacks the rights for this call (give it a role allowed to edit appliance configuration), or the Manager refused the X-XSRF-TOKEN header (report that together with the Manager's version)"
	hintNotPrimary   = "not the primary Manager: point api.url at the primary Manager"
	hintConflict     = "another Central Management operation is running; wait and retry"
	hintStale        = "another writer (the UI, Central Management, another smcfleet run) changed the configuration since it was read; re-run to read it again"
	hintServer       = "the Manager's API service failed or is restarting; wait and retry, and check the Manager's logs (Central Management: " + centralLog + ")"
	hintNetwork      = "check that api.url is reachable from here (DNS, routing, firewall, port) and that the Manager's web service is running"
	hintUnknownCA    = "set api.ca_file to the CA that signed the Manager's certificate, or pin api.fingerprint_sha256"
)

func hintFor(status int) string {
	switch {
	case status == http.StatusBadRequest:
		return "the Manager rejected the request as invalid; see its message (for a trust-store change: the certificate, or one with the same friendly name, may already be there)"
	case status == http.StatusUnauthorized:
		return hintUnauthorized
	case status == http.StatusForbidden:
		return hintForbidden
	case status == http.StatusNotFound:
		return "not found on this Manager: check the appliance id, and that this Manager version has this endpoint"
	case status == http.StatusMethodNotAllowed, status == http.StatusNotAcceptable, status == http.StatusUnsupportedMediaType:
		return "this Manager version does not accept the request in this form; report it together with the Manager's version"
	case status == http.StatusConflict:
		return hintConflict
	case status == http.StatusPreconditionFailed:
		return hintStale
	case status == http.StatusPreconditionRequired:
		return "the Manager requires If-Match with the ETag of the document read; this is a client bug, report it"
	case status == http.StatusTooManyRequests:
		return "the Manager is limiting the request rate; wait and retry"
	case status >= 300 && status < 400:
		return hintNotPrimary
	case status >= 500:
		return hintServer
	}
	return "unexpected answer from the Manager; see its message"
}

// statusError builds the Error for a non-2xx answer. login suppresses the
// server's text entirely: a server may echo the submitted form.
func (c *Client) statusError(op string, r *request, resp *Response, login bool, extra ...string) *Error {
	e := &Error{Op: op, Method: r.method, Path: r.path, Status: resp.Status, Hint: hintFor(resp.Status)}
	pub := publicResponse(resp)
	if login {
		pub.Body = nil
	} else {
		pub.Body = []byte(c.redact(string(pub.Body), extra...))
		e.Message = c.redact(serverMessage(resp), extra...)
	}
	e.Response = pub
	switch {
	case resp.Status == http.StatusPreconditionFailed:
		e.Err = ErrStale
	case resp.Status >= 300 && resp.Status < 400:
		if loc := resp.Header.Get("Location"); loc != "" {
			to := "redirects to " + c.redact(stripQuery(loc), extra...)
			if e.Message != "" {
				to = e.Message + " (" + to + ")"
			}
			e.Message = to
		}
	}
	return e
}

// transportError builds the Error for a request that got no answer, with
// the advice that fits the cause.
func (c *Client) transportError(op string, r *request, err error) *Error {
	e := &Error{Op: op, Method: r.method, Path: r.path, Err: err, Hint: hintNetwork}
	var (
		pin       *PinError
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		rec       tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Message = err.Error()
		e.Hint = fmt.Sprintf("the call was cancelled or took longer than api.timeout (%s)", c.cfg.Timeout)
	case errors.As(err, &pin):
		e.Message = "certificate pin mismatch"
		e.Hint = pin.Error() + "; if the Manager's certificate was replaced on purpose, verify the new one out of band and update api.fingerprint_sha256"
		return e
	case errors.As(err, &unknownCA):
		e.Message = "the Manager's certificate is signed by an unknown authority"
		if c.cfg.CAFile != "" {
			e.Message = "the Manager's certificate is not signed by a CA in api.ca_file " + c.cfg.CAFile
		}
		e.Hint = hintUnknownCA
		if unknownCA.Cert != nil {
			// Showing what the server presented saves a round trip with
			// openssl, but it is the untrusted claim: say so.
			e.Hint += fmt.Sprintf(" (the server presented %q with SHA-256 %s; compare it with the Manager's certificate out of band before pinning it)",
				unknownCA.Cert.Subject.String(), formatFingerprint(sha256Sum(unknownCA.Cert.Raw)))
		}
		return e
	case errors.As(err, &hostname):
		e.Message = hostname.Error()
		e.Hint = "the Manager's certificate is not issued for the host in api.url: use a name the certificate lists, or pin api.fingerprint_sha256"
		return e
	case errors.As(err, &invalid):
		e.Message = invalid.Error()
		e.Hint = "the Manager's certificate is not valid (expired, not yet valid or not for servers): renew it, or check this machine's clock"
		return e
	case errors.As(err, &verify):
		e.Message = verify.Error()
		e.Hint = hintUnknownCA
		return e
	case errors.As(err, &rec):
		e.Message = "the server did not answer with TLS"
		e.Hint = "api.url must point at the Manager's HTTPS port (normally 443)"
		return e
	default:
		e.Message = c.redact(unwrapURLError(err).Error())
	}
	return e
}

// unwrapURLError drops *url.Error's "Post \"https://…\":" prefix: the
// Error already names method and path.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// serverMessage extracts a one-line message from an error body: the
// "message" (or "error") of a JSON object, else the text itself.
func serverMessage(resp *Response) string {
	body := bytes.TrimSpace(resp.Body)
	if len(body) == 0 {
		return ""
	}
	var obj map[string]any
	if json.Unmarshal(body, &obj) == nil {
		for _, k := range []string{"message", "errorMessage", "error", "detail"} {
			if s, ok := obj[k].(string); ok && strings.TrimSpace(s) != "" {
				return oneLine(s)
			}
		}
	}
	if ct := resp.Header.Get("Content-Type"); strings.Contains(ct, "html") || bytes.HasPrefix(body, []byte("<")) {
		// An HTML error page says nothing a status line does not.
		return ""
	}
	return oneLine(string(body))
}

// oneLine collapses whitespace and bounds the length so that a server
// dumping a stack trace does not flood a fleet report.
func oneLine(s string) string {
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	const limit = 300
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

func stripQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// passwordForms lists the spellings in which a server could echo the
// password: as typed, form-encoded, path-encoded and JSON-escaped.
func passwordForms(pw string) []string {
	forms := []string{pw, url.QueryEscape(pw), url.PathEscape(pw)}
	if b, err := json.Marshal(pw); err == nil {
		forms = append(forms, strings.Trim(string(b), `"`))
	}
	return forms
}

// minRedactLen is the shortest secret replaced in free text; for shorter
// passwords the whole text is dropped instead, since replacing one or two
// characters everywhere would garble it without hiding anything.
const minRedactLen = 4

// redact removes the password (and extra secrets such as the session
// tokens) from s.
func (c *Client) redact(s string, extra ...string) string {
	for _, sec := range append(append([]string(nil), c.cred.forms...), extra...) {
		if sec == "" {
			continue
		}
		if len(sec) < minRedactLen {
			if strings.Contains(s, sec) {
				return "(message withheld: it may contain a secret)"
			}
			continue
		}
		s = strings.ReplaceAll(s, sec, "(sensitive)")
	}
	return s
}

// publicResponse copies resp for a caller: without Set-Cookie, which
// carries the session tokens.
func publicResponse(resp *Response) *Response {
	h := resp.Header.Clone()
	h.Del("Set-Cookie")
	return &Response{Status: resp.Status, Header: h, Body: resp.Body}
}
