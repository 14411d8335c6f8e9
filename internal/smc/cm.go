package smc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Values fixed by smc-api.md ("Central Management").
const (
	ApplianceTypeSMC       = "SMC"
	ConfigStateUpToDate    = "UP_TO_DATE"
	ConfigStateApplyFailed = "APPLY_CONFIG_FAILED"
)

// friendlyNameRE is what smc-api.md allows for a trust-store friendly name.
var friendlyNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

func configPath(id string) string { return "/cm/config/appliance/" + url.PathEscape(id) + "/config" }
func statusPath(id string) string { return "/cm/config/appliance/" + url.PathEscape(id) + "/status" }
func stagePath(id string) string {
	return "/cm/config/appliance/" + url.PathEscape(id) + "/certificate/csr"
}

func (c *Client) get(ctx context.Context, op, path string) (*Response, error) {
	return c.call(ctx, op, &request{method: http.MethodGet, path: path}, authSession, snapshot{})
}

// decodeErr reports an answer that is not what smc-api.md describes.
func decodeErr(op, path string, resp *Response, what string) *Error {
	return &Error{Op: op, Method: http.MethodGet, Path: path, Message: what,
		Hint: "the Manager's answer is not in the form this client knows (smc-api.md); report it together with the Manager's version", Response: publicResponse(resp)}
}

// FQDN is the name of the Manager answering (GET /fqdn, plain text).
func (c *Client) FQDN(ctx context.Context) (string, error) {
	const op = "read Manager FQDN"
	resp, err := c.get(ctx, op, "/fqdn")
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(resp.Body))
	if strings.HasPrefix(s, `"`) {
		// Tolerate a JSON string, should a version answer application/json.
		var v string
		if json.Unmarshal([]byte(s), &v) == nil {
			s = v
		}
	}
	if s == "" {
		return "", decodeErr(op, "/fqdn", resp, "empty answer")
	}
	return s, nil
}

// ManagerID returns the appliance id of the Manager itself: the inventory
// entry with applianceType "SMC", or, if there are several, the one whose
// fqdn equals GET /fqdn (smc-api.md "Trust store"). The answer is cached.
func (c *Client) ManagerID(ctx context.Context) (string, error) {
	c.mu.Lock()
	id := c.managerID
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	const op, path = "find the Manager's appliance id", "/cm/inventory/appliances"
	resp, err := c.get(ctx, op, path)
	if err != nil {
		return "", err
	}
	var list []struct {
		ID            string `json:"id"`
		FQDN          string `json:"fqdn"`
		ApplianceType string `json:"applianceType"`
	}
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		return "", decodeErr(op, path, resp, "inventory is not a JSON array of appliances: "+err.Error())
	}
	var smcs []int
	for i, a := range list {
		if strings.EqualFold(a.ApplianceType, ApplianceTypeSMC) && a.ID != "" {
			smcs = append(smcs, i)
		}
	}
	switch len(smcs) {
	case 0:
		return "", decodeErr(op, path, resp, fmt.Sprintf("no appliance with applianceType %q among %d", ApplianceTypeSMC, len(list)))
	case 1:
		id = list[smcs[0]].ID
	default:
		fqdn, err := c.FQDN(ctx)
		if err != nil {
			return "", err
		}
		var names []string
		for _, i := range smcs {
			names = append(names, list[i].FQDN)
			if sameHost(list[i].FQDN, fqdn) {
				id = list[i].ID
				break
			}
		}
		if id == "" {
			return "", decodeErr(op, path, resp, fmt.Sprintf("%d Managers in the inventory (%s) and none is %q, the name GET /fqdn answers", len(smcs), strings.Join(names, ", "), fqdn))
		}
	}
	c.mu.Lock()
	c.managerID = id
	c.mu.Unlock()
	return id, nil
}

func sameHost(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// Config reads appliance id's configuration document and its ETag. Numbers
// are json.Number, so values the client does not touch are written back
// exactly as read (no float64 rounding of large integers).
func (c *Client) Config(ctx context.Context, id string) (doc map[string]any, etag string, err error) {
	const op = "read configuration"
	path := configPath(id)
	resp, err := c.get(ctx, op, path)
	if err != nil {
		return nil, "", err
	}
	d := json.NewDecoder(bytes.NewReader(resp.Body))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil || doc == nil {
		msg := "not a JSON object"
		if err != nil {
			msg += ": " + err.Error()
		}
		return nil, "", decodeErr(op, path, resp, msg)
	}
	etag = resp.Header.Get("ETag")
	if etag == "" {
		// Without it a PUT could not be guarded; refusing beats
		// overwriting another writer's change.
		return nil, "", decodeErr(op, path, resp, "no ETag header: the configuration cannot be changed safely")
	}
	return doc, etag, nil
}

// Status returns appliance id's configState.
func (c *Client) Status(ctx context.Context, id string) (string, error) {
	const op = "read configuration state"
	path := statusPath(id)
	resp, err := c.get(ctx, op, path)
	if err != nil {
		return "", err
	}
	var v struct {
		ConfigState string `json:"configState"`
	}
	if err := json.Unmarshal(resp.Body, &v); err != nil || v.ConfigState == "" {
		return "", decodeErr(op, path, resp, "no configState in the answer")
	}
	return v.ConfigState, nil
}

// WaitApplied polls Status until UP_TO_DATE. APPLY_CONFIG_FAILED is an
// error wrapping ErrApplyFailed; so is running out of Config.ApplyTimeout
// (measured on a real timer), naming the last state seen. Every state
// other than the two final ones counts as still running: smc-api.md does
// not name them.
func (c *Client) WaitApplied(ctx context.Context, id string) error {
	return c.waitState(ctx, id, "wait for the configuration to apply", false)
}

// waitState is WaitApplied; before says the wait precedes a change, which
// turns APPLY_CONFIG_FAILED into "the previous apply failed; nothing was
// changed" instead of "this change failed".
func (c *Client) waitState(ctx context.Context, id, op string, before bool) error {
	timer := time.NewTimer(c.cfg.ApplyTimeout)
	defer timer.Stop()
	path := statusPath(id)
	for {
		state, err := c.Status(ctx, id)
		if err != nil {
			return err
		}
		switch state {
		case ConfigStateUpToDate:
			return nil
		case ConfigStateApplyFailed:
			e := &Error{Op: op, Method: http.MethodGet, Path: path, Message: "configState " + state, Err: ErrApplyFailed,
				Hint: "the Manager rejected the configuration; see " + centralLog + " on the Manager for why"}
			if before {
				e.Hint = "the Manager's previous configuration apply failed, so nothing was changed (configuration is only changed when UP_TO_DATE); see " +
					centralLog + " on the Manager, and fix or re-save the configuration in the UI (Edit Appliance Configuration) first"
			}
			return e
		}
		select {
		case <-ctx.Done():
			return &Error{Op: op, Method: http.MethodGet, Path: path, Message: "last configState " + state + ": " + ctx.Err().Error(),
				Hint: "the wait was cancelled; the Manager may still be applying", Err: ctx.Err()}
		case <-timer.C:
			return &Error{Op: op, Method: http.MethodGet, Path: path, Err: context.DeadlineExceeded,
				Message: fmt.Sprintf("still %s after %s", state, c.cfg.ApplyTimeout),
				Hint:    "the Manager is still applying a configuration; wait, check " + centralLog + " on the Manager, or raise api.apply_timeout"}
		case <-time.After(c.cfg.PollInterval):
		}
	}
}

// Update changes appliance id's configuration document, following
// smc-api.md: wait until UP_TO_DATE, GET the document and its ETag, let
// mutate edit it, PUT the whole document with If-Match, then wait for the
// apply. If mutate reports no change nothing is written and Update returns
// false. A 412 (another writer changed the document in between) re-reads
// and calls mutate once more; a second 412 is an error wrapping ErrStale.
// mutate must therefore be safe to call twice on fresh documents.
//
// The result says whether a PUT was accepted; it is true also when the
// apply that followed failed or was not awaited (the error says which), so
// a caller can report "changed, but not applied".
func (c *Client) Update(ctx context.Context, id string, mutate func(doc map[string]any) (changed bool, err error)) (bool, error) {
	const op = "update configuration"
	path := configPath(id)
	for attempt := 1; ; attempt++ {
		if err := c.waitState(ctx, id, "wait until the configuration is UP_TO_DATE", true); err != nil {
			return false, err
		}
		doc, etag, err := c.Config(ctx, id)
		if err != nil {
			return false, err
		}
		changed, err := mutate(doc)
		if err != nil {
			return false, fmt.Errorf("%s of appliance %s: %w", op, id, err)
		}
		if !changed {
			return false, nil
		}
		body, err := encodeDocument(doc)
		if err != nil {
			return false, fmt.Errorf("%s of appliance %s: encode document: %w", op, id, err)
		}
		r := &request{method: http.MethodPut, path: path, body: body, contentType: "application/json",
			header: http.Header{"If-Match": {etag}}}
		_, err = c.call(ctx, op, r, authSession, snapshot{})
		var e *Error
		if errors.As(err, &e) && errors.Is(err, ErrStale) {
			if attempt == 1 {
				continue
			}
			e.Message = strings.TrimSpace("the document changed again after it was re-read; nothing was written. " + e.Message)
			e.Hint = "another writer (the UI, a Central Management job, another smcfleet run) keeps changing this Manager's configuration; re-run when it is idle"
			return false, e
		}
		if err != nil {
			return false, err
		}
		// A Manager may take a moment to leave UP_TO_DATE after accepting
		// a PUT; polling at once could mistake the old state for the end
		// of this apply.
		if err := sleep(ctx, c.cfg.PollInterval); err != nil {
			return true, &Error{Op: op, Method: http.MethodPut, Path: path, Message: err.Error(), Hint: "the change was written; the wait for its apply was cancelled", Err: err}
		}
		return true, c.WaitApplied(ctx, id)
	}
}

// encodeDocument marshals without HTML escaping, so PEM text and other
// strings go back byte for byte as read.
func encodeDocument(doc map[string]any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Stage uploads one PEM certificate for the Manager to parse (PUT
// …/certificate/csr, multipart, smc-api.md "Trust store") and returns the
// certificate object to put into a trust-store entry. It changes nothing
// on the Manager.
func (c *Client) Stage(ctx context.Context, id, friendlyName string, pem []byte) (map[string]any, error) {
	const op = "stage certificate"
	path := stagePath(id)
	if !friendlyNameRE.MatchString(friendlyName) {
		return nil, &Error{Op: op, Method: http.MethodPut, Path: path, Message: fmt.Sprintf("friendly name %q", friendlyName),
			Hint: "a trust-store friendly name may only contain letters, digits, '.', '_' and '-'"}
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := mw.WriteField("friendlyName", friendlyName); err != nil {
		return nil, err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="targetCertificateFile"; filename="%s.pem"`, friendlyName))
	h.Set("Content-Type", "application/x-x509-ca-cert") // what Cisco's script declares
	part, err := mw.CreatePart(h)
	if err != nil {
		return nil, err
	}
	if _, err := part.Write(pem); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	r := &request{method: http.MethodPut, path: path, body: body.Bytes(), contentType: mw.FormDataContentType()}
	resp, err := c.call(ctx, op, r, authSession, snapshot{})
	if err != nil {
		return nil, err
	}
	var list []map[string]any
	d := json.NewDecoder(bytes.NewReader(resp.Body))
	d.UseNumber()
	if err := d.Decode(&list); err != nil || len(list) == 0 || list[0] == nil {
		return nil, &Error{Op: op, Method: http.MethodPut, Path: path, Message: "the answer is not a JSON array holding a certificate object",
			Hint: "report it together with the Manager's version", Response: publicResponse(resp)}
	}
	return list[0], nil
}
