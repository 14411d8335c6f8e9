// Package smc is the HTTPS API client for a Cisco Secure Network Analytics
// Manager (SMC). It is built to /work/shared/docs/smc-api.md ("smc-api.md"
// below) and to nothing else: the login flow is documented by Cisco, the
// Central Management ("/cm/") calls come from Cisco's public scripts, and
// no endpoint here is guessed.
//
// # Session
//
// A Client logs in lazily on its first call (POST /token/v2/authenticate
// with a form body) and keeps the stealthwatch.jwt and XSRF-TOKEN cookies
// itself, sending X-XSRF-TOKEN on every non-GET request. It renews the
// session (POST /token/v2) before a request when less than two minutes of
// tokenTtlInSeconds remain by Config.Now, and logs in again once when an
// API call answers 401 anyway. One Client therefore logs in once per run
// unless the Manager ends the session: Cisco's scripts warn that every API
// login logs out a UI session of the same user.
//
// Only the session cookies and any other cookie the login or renewal
// responses set are kept; Set-Cookie headers are removed from every
// Response handed to callers so tokens never reach a log.
//
// # Verification of the Manager's certificate
//
// Exactly one of Config.CAFile, Config.FingerprintSHA256 and
// Config.Insecure may be set. With none of them the system's root
// certificates verify the Manager; that is rarely right for an SMC (they
// normally serve a self-signed or private-CA certificate), but it is the
// safe default, and the error then says how to configure a CA file or a
// pin. Verification is never skipped silently: Insecure makes Warning
// return a sentence the caller must print.
//
// # Retries
//
// HTTP 409 (another Central Management operation runs), 5xx and network
// errors are retried with exponential backoff for every method, not only
// GET. That is safe here because the only mutating calls are the login,
// renewal and logout (idempotent in effect), staging (parses a certificate,
// changes nothing), and the configuration PUT, which is guarded by
// If-Match: a PUT that reached the Manager but whose answer was lost is
// answered 412 when repeated, and Update re-reads instead of overwriting.
//
// # Secrets
//
// The password is never part of an error, a String method or a returned
// Response: login failures carry no server text at all (a server may echo
// the form), other server messages pass through a redaction of the
// password and the session tokens.
package smc
