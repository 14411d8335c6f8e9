// Package smcapi simulates the HTTPS API of a Cisco Secure Network Analytics
// Manager (SMC): the documented cookie + XSRF login and the undocumented
// Central Management ("/cm/") endpoints that Cisco's own public scripts use.
// It is built to /work/shared/docs/smc-api.md ("smc-api.md" below); every
// handler cites the line of that file it reproduces.
//
// The simulator is deliberately strict where smc-api.md is certain, so that
// a client which passes against it does what Cisco's scripts do: it sends
// the XSRF header on every non-GET, re-reads the XSRF cookie after renewal,
// sends If-Match with the ETag it read, retries 409, polls configState, and
// PUTs the whole document back.
//
// # What is the simulator's own assumption (not in any public source)
//
// smc-api.md marks several things as unknown. The simulator has to answer
// something, so it chooses; a client must not depend on these choices, and
// the README must not present them as facts about a real Manager:
//
//   - SMTP settings (smc-api.md: "NOT verified anywhere public"): the key
//     path [SMTPKeyPath] and the field names [SMTPFieldServer] …
//     [SMTPFieldEncryption] are invented. GET returns a stored non-empty
//     password as [PasswordMask]; a PUT carrying the mask keeps the stored
//     password, any other value replaces it, "" clears it.
//   - The in-progress configState value [ConfigStateApplying]: smc-api.md
//     only names UP_TO_DATE and APPLY_CONFIG_FAILED ("| …"). Clients must
//     treat every other value as "not finished", as Cisco's script does.
//   - After APPLY_CONFIG_FAILED the stored document keeps the rejected
//     change (GET shows it) but the Manager keeps running the last applied
//     one: [Server.TrustedCertificates] and [Server.SMTP] report the
//     applied configuration, [Server.Document] the stored one.
//   - The filler elements "dnsServers", "ntpServers" and "syslogForwarding"
//     and the top-level "applianceId" in the seeded document exist only so
//     that a client which drops what it does not know gets caught: a PUT
//     that omits a top-level or configurableElements key the stored
//     document has is answered 400.
//   - A PUT whose trust store holds the same certificate (by DER) or the
//     same friendly name twice is answered 400 (smc-api.md: "HTTP 400 may
//     mean the certificate (or a conflicting one) is already there").
//   - A successful config PUT answers 200 with the stored (masked) document
//     and the new ETag; renewal answers 200 with {"tokenTtlInSeconds"};
//     logout answers 204 and expires both cookies.
//   - Error bodies are Spring-style JSON {"status","error","message","path"}.
//   - The PUT body must be application/json and the staging body
//     multipart/form-data, otherwise 415; the staged file part must be
//     declared application/x-x509-ca-cert (what Cisco's script sends),
//     otherwise 415.
//   - The staged certificate object is {"content","subject","issuer",
//     "serialNumber","notBefore","notAfter"}: content is the uploaded text
//     with trailing whitespace stripped (the form Cisco's presence check
//     compares against), subject/issuer are RFC 2253-style strings, the
//     serial is decimal, the dates RFC 3339 UTC. Text around the PEM block
//     is tolerated; any second PEM block (certificate or key) is a 400.
//   - If-Match is compared strongly against the one current ETag; "*" is
//     not honoured (it would defeat the optimistic concurrency smc-api.md
//     describes), so it answers 412.
//   - Renewal keeps the same stealthwatch.jwt value (re-sent in the
//     response, since Cisco's script replaces its whole cookie jar with the
//     renewal response's cookies) and issues a new XSRF-TOKEN; the old XSRF
//     value stops working.
//   - Cookies carry no expiry: the session ends on the server side after
//     the TTL, so a client must handle 401 rather than rely on its jar.
//   - Only the Manager's own appliance has a configuration document; the
//     other appliances in the inventory answer their status (UP_TO_DATE)
//     but 404 on config and staging.
//   - A non-primary Manager redirects to https://primary-<FQDN><same path>.
//   - Fault knobs: [Server.Conflict] applies to any PUT under /cm/ (config
//     and staging); [Server.ServerErrors] applies to any request, login
//     included, and answers 503.
package smcapi
