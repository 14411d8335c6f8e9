package smcapi

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"unicode"
)

// applianceList is the Manager first, then Options.Others.
func (s *Server) applianceList() []Appliance {
	return append([]Appliance{{ID: s.opts.ApplianceID, FQDN: s.opts.FQDN, ApplianceType: ApplianceTypeSMC}}, s.opts.Others...)
}

// handleFQDN: smc-api.md: GET /fqdn → plain text FQDN of the Manager.
func (s *Server) handleFQDN(w http.ResponseWriter, r *http.Request) {
	if !accepts(r, "text/plain") {
		writeError(w, r, http.StatusNotAcceptable, "this endpoint answers text/plain")
		return
	}
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	_, _ = io.WriteString(w, s.opts.FQDN)
}

// handleInventory: smc-api.md: GET /cm/inventory/appliances → JSON array of
// {id, fqdn, applianceType, …}.
func (s *Server) handleInventory(w http.ResponseWriter, r *http.Request) {
	if !s.acceptsJSON(w, r) {
		return
	}
	var out []map[string]any
	for _, a := range s.applianceList() {
		out = append(out, map[string]any{"id": a.ID, "fqdn": a.FQDN, "applianceType": a.ApplianceType})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleAppliancesStatus: smc-api.md: GET /cm/monitor/appliances/status →
// array of {id, fqdn, applianceType, configurationChannelStatus ("up")}.
func (s *Server) handleAppliancesStatus(w http.ResponseWriter, r *http.Request) {
	if !s.acceptsJSON(w, r) {
		return
	}
	var out []map[string]any
	for _, a := range s.applianceList() {
		out = append(out, map[string]any{"id": a.ID, "fqdn": a.FQDN, "applianceType": a.ApplianceType, "configurationChannelStatus": "up"})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleConfigState: smc-api.md: GET /cm/config/appliance/{id}/status →
// {configState: "UP_TO_DATE" | "APPLY_CONFIG_FAILED" | …}. Unknown ids are
// 404; the other appliances are always UP_TO_DATE since nothing changes
// them here.
func (s *Server) handleConfigState(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.acceptsJSON(w, r) {
		return
	}
	state := ""
	switch {
	case id == s.opts.ApplianceID:
		s.mu.Lock()
		s.settleLocked()
		state = s.currentStateLocked()
		s.mu.Unlock()
	case s.isOther(id):
		state = ConfigStateUpToDate
	default:
		writeError(w, r, http.StatusNotFound, "no appliance with id "+id)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"configState": state})
}

// handleGetConfig: smc-api.md: GET /cm/config/appliance/{id}/config → the
// whole document and an ETag header. The SMTP password is masked.
func (s *Server) handleGetConfig(w http.ResponseWriter, r *http.Request) {
	if !s.ownAppliance(w, r) || !s.acceptsJSON(w, r) {
		return
	}
	s.mu.Lock()
	body, etag := maskedCopy(s.doc), s.etag
	s.mu.Unlock()
	w.Header().Set("ETag", etag)
	writeJSON(w, http.StatusOK, body)
}

// handlePutConfig: smc-api.md: PUT /cm/config/appliance/{id}/config with
// the whole document, If-Match and X-XSRF-TOKEN; 409 while another Central
// Management operation runs; afterwards configState leaves UP_TO_DATE and
// returns to UP_TO_DATE or APPLY_CONFIG_FAILED.
//
// Order of refusals: 415, 428, 409, 412, then 400. Preconditions come
// before body validation so that a writer holding a stale document is told
// to re-read it rather than told what is wrong with it.
func (s *Server) handlePutConfig(w http.ResponseWriter, r *http.Request) {
	if !s.ownAppliance(w, r) {
		return
	}
	if !mediaTypeIs(r, "application/json") {
		writeError(w, r, http.StatusUnsupportedMediaType, "document must be application/json")
		return
	}
	ifMatch := r.Header.Get("If-Match")
	if ifMatch == "" {
		// smc-api.md: optimistic concurrency; a PUT without If-Match would
		// overwrite blindly, so it is refused (RFC 6585 428).
		writeError(w, r, http.StatusPreconditionRequired, "If-Match with the ETag from GET is required")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "read body: "+err.Error())
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked()
	if takeOne(&s.conflicts) || s.apply.running {
		writeError(w, r, http.StatusConflict, "another Central Management operation is in progress")
		return
	}
	if !etagListMatches(ifMatch, s.etag) {
		// smc-api.md: "a changed document must be re-read, not overwritten".
		writeError(w, r, http.StatusPreconditionFailed, "the document changed since it was read; GET it again")
		return
	}
	next, err := decodeDocument(raw)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid JSON document: "+err.Error())
		return
	}
	if missing := missingKeys(s.doc, next); len(missing) > 0 {
		writeError(w, r, http.StatusBadRequest, "PUT must carry the whole document; missing: "+strings.Join(missing, ", "))
		return
	}
	unmaskPassword(next, s.doc)
	if err := validateDocument(next); err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}

	s.doc = next
	s.etag = etagOf(next)
	s.apply = applyState{
		running:  true,
		deadline: s.opts.Now().Add(s.opts.ApplyDelay),
		fail:     s.failNextApply.Swap(false),
	}
	s.stats.Puts++
	w.Header().Set("ETag", s.etag)
	writeJSON(w, http.StatusOK, maskedCopy(next))
}

// handleStage: smc-api.md "Trust store": PUT
// /cm/config/appliance/{id}/certificate/csr, multipart/form-data with
// friendlyName and the file targetCertificateFile; answers a JSON array
// whose first element is the certificate object for the document. The
// document is not changed.
func (s *Server) handleStage(w http.ResponseWriter, r *http.Request) {
	if !s.ownAppliance(w, r) {
		return
	}
	if !mediaTypeIs(r, "multipart/form-data") {
		writeError(w, r, http.StatusUnsupportedMediaType, "staging body must be multipart/form-data")
		return
	}
	if takeOne(&s.conflicts) {
		writeError(w, r, http.StatusConflict, "another Central Management operation is in progress")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseMultipartForm(maxBody); err != nil {
		writeError(w, r, http.StatusBadRequest, "unreadable multipart body: "+err.Error())
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()

	names := r.MultipartForm.Value["friendlyName"]
	if len(names) != 1 || !friendlyNameRE.MatchString(names[0]) {
		writeError(w, r, http.StatusBadRequest, "exactly one friendlyName matching "+FriendlyNamePattern+" is required")
		return
	}
	files := r.MultipartForm.File["targetCertificateFile"]
	if len(files) != 1 {
		writeError(w, r, http.StatusBadRequest, "exactly one targetCertificateFile is required")
		return
	}
	if ct := files[0].Header.Get("Content-Type"); ct != "application/x-x509-ca-cert" {
		writeError(w, r, http.StatusUnsupportedMediaType, fmt.Sprintf("targetCertificateFile must be application/x-x509-ca-cert, not %q", ct))
		return
	}
	text, err := readPart(files[0])
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "read targetCertificateFile: "+err.Error())
		return
	}
	cert, err := parseOneCertificate(text)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "targetCertificateFile: "+err.Error())
		return
	}
	s.mu.Lock()
	s.stats.Stagings++
	s.mu.Unlock()
	// Content keeps the upload minus trailing whitespace: that is what
	// Cisco's presence check compares certificate.content against.
	content := strings.TrimRightFunc(string(text), unicode.IsSpace)
	writeJSON(w, http.StatusOK, []any{certificateObject(cert, content)})
}

func readPart(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxBody))
}

// settleLocked finishes an apply whose time has come. Doing it lazily on
// every observation, instead of with a timer, keeps the simulator free of
// goroutines and makes a fake clock fully deterministic.
func (s *Server) settleLocked() {
	if !s.apply.running || s.opts.Now().Before(s.apply.deadline) {
		return
	}
	s.apply.running = false
	if s.apply.fail {
		s.apply.final = ConfigStateApplyFailed
		return
	}
	s.apply.final = ConfigStateUpToDate
	s.applied = deepCopyMap(s.doc)
}

func (s *Server) currentStateLocked() string {
	if s.apply.running {
		return ConfigStateApplying
	}
	return s.apply.final
}

// ownAppliance answers 404 unless {id} is the Manager's own appliance: the
// simulator models only the Manager's configuration (the one smc-api.md
// says receives the SES chain).
func (s *Server) ownAppliance(w http.ResponseWriter, r *http.Request) bool {
	id := r.PathValue("id")
	switch {
	case id == s.opts.ApplianceID:
		return true
	case s.isOther(id):
		writeError(w, r, http.StatusNotFound, "the simulator keeps no configuration for appliance "+id)
	default:
		writeError(w, r, http.StatusNotFound, "no appliance with id "+id)
	}
	return false
}

func (s *Server) isOther(id string) bool {
	for _, a := range s.opts.Others {
		if a.ID == id {
			return true
		}
	}
	return false
}

func (s *Server) acceptsJSON(w http.ResponseWriter, r *http.Request) bool {
	if accepts(r, "application/json") {
		return true
	}
	writeError(w, r, http.StatusNotAcceptable, "this endpoint answers application/json")
	return false
}

// etagListMatches compares If-Match entries strongly with the current tag.
// "*" and weak tags never match: see the package documentation.
func etagListMatches(header, current string) bool {
	for _, t := range strings.Split(header, ",") {
		if strings.TrimSpace(t) == current {
			return true
		}
	}
	return false
}

// Document returns a deep copy of the stored document, SMTP password in
// clear (the lab, unlike an API client, may see it). Numbers are
// json.Number so unknown fields keep their exact text.
func (s *Server) Document() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return deepCopyMap(s.doc)
}

// SetDocument replaces the stored and applied document at once, as if the
// Manager had been configured that way before the test (for instance one
// without an SMTP section, to exercise "key not present"). It validates
// like a PUT, but does not require the old keys, start an apply, or count.
func (s *Server) SetDocument(doc map[string]any) error {
	if doc == nil {
		return errors.New("nil document")
	}
	// A JSON round trip turns whatever Go types the caller used ([]string,
	// int…) into the shapes a PUT would have produced.
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("marshal document: %w", err)
	}
	c, err := decodeDocument(b)
	if err != nil {
		return err
	}
	if err := validateDocument(c); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc = c
	s.etag = etagOf(c)
	s.applied = deepCopyMap(c)
	s.apply = applyState{final: ConfigStateUpToDate}
	return nil
}

// TrustedCertificates parses the trust store of the configuration the
// Manager runs: the document as of its last successful apply. A change
// still applying, or whose apply failed, is not in it.
func (s *Server) TrustedCertificates() []*x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked()
	return trustedCertificates(s.applied)
}

// SMTP returns the SMTP settings of the configuration the Manager runs
// (see TrustedCertificates), password in clear; the zero value if the
// document has no SMTP section. The keys read are the SIMULATOR'S
// ASSUMPTION (SMTPKeyPath).
func (s *Server) SMTP() SMTPSettings {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked()
	return smtpSettings(s.applied)
}

// ConfigState is what GET …/status would answer for the Manager now.
func (s *Server) ConfigState() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked()
	return s.currentStateLocked()
}

// SeedFriendlyNames are the trust-store entries every new Server starts
// with; a careful client never removes them.
func SeedFriendlyNames() []string { return []string{SeedIdentityCAName, SeedCorporateCAName} }
