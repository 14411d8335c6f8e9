package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ControlSocket is the Unix socket, in the lab directory, through which
// `smcfleet lab test-action` and `smcfleet lab fault` reach a running lab.
const ControlSocket = "lab.sock"

// Faults that can be switched on per host (see SetFault).
var Faults = []string{
	"down", "slow", "auth-refused", "hostkey-changed", "disk-full", "drop-transfer",
	"api-409", "api-5xx", "apply-failed", "token-expired",
}

// ServeControl serves the control socket until ctx ends.
func (l *Lab) ServeControl(ctx context.Context) error {
	path := filepath.Join(l.Dir, ControlSocket)
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hosts/{name}/test-action", func(w http.ResponseWriter, r *http.Request) {
		h := l.Host(r.PathValue("name"))
		if h == nil {
			http.Error(w, "no such host", http.StatusNotFound)
			return
		}
		res := l.TestAction(r.Context(), h)
		writeJSON(w, res)
	})
	mux.HandleFunc("POST /hosts/{name}/faults/{kind}", func(w http.ResponseWriter, r *http.Request) {
		h := l.Host(r.PathValue("name"))
		if h == nil {
			http.Error(w, "no such host", http.StatusNotFound)
			return
		}
		if err := l.SetFault(h, r.PathValue("kind"), r.URL.Query().Get("value")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]string{"host": h.Name, "fault": r.PathValue("kind"), "value": r.URL.Query().Get("value")})
	})
	mux.HandleFunc("POST /ses/legacy-dhe", func(w http.ResponseWriter, r *http.Request) {
		on := r.URL.Query().Get("value") != "off"
		if err := l.ses.SetLegacyDHE(on); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]bool{"legacy_dhe": on})
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, l.Stats())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
		os.Remove(path)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Control is a client of a running lab's control socket.
type Control struct {
	client *http.Client
}

// Dial connects to the lab running in dir.
func DialControl(dir string) (*Control, error) {
	path := filepath.Join(dir, ControlSocket)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no lab is running in %s (start one with: smcfleet lab up --dir %s)", dir, dir)
	}
	return &Control{client: &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}, nil
}

// TestAction asks the lab to run a host's "Test Action".
func (c *Control) TestAction(ctx context.Context, host string) (TestActionResult, error) {
	var res TestActionResult
	err := c.post(ctx, "/hosts/"+host+"/test-action", &res)
	return res, err
}

// SetLegacyDHE switches the simulated SES's legacy-DHE mode.
func (c *Control) SetLegacyDHE(ctx context.Context, on bool) error {
	v := "on"
	if !on {
		v = "off"
	}
	return c.post(ctx, "/ses/legacy-dhe?value="+v, nil)
}

// Stats fetches the lab's per-host counters.
func (c *Control) Stats(ctx context.Context) (map[string]HostStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://lab/stats", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]HostStats
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// SetFault switches a fault on a host; value "off" switches it off.
func (c *Control) SetFault(ctx context.Context, host, kind, value string) error {
	return c.post(ctx, "/hosts/"+host+"/faults/"+kind+"?value="+value, nil)
}

func (c *Control) post(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://lab"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return fmt.Errorf("lab: %s", strings.TrimSpace(b.String()))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// SetFault switches a fault on one host. value: "on" (default), "off", or a
// parameter (a duration for slow, a byte count for drop-transfer, a count
// for api-409 and api-5xx).
func (l *Lab) SetFault(h *Host, kind, value string) error {
	on := value != "off"
	switch kind {
	case "down":
		h.SSH.Refuse(on)
		l.setAPIDown(h, on)
	case "slow":
		d := 2 * time.Second
		if on && value != "" && value != "on" {
			var err error
			if d, err = time.ParseDuration(value); err != nil {
				return fmt.Errorf("slow: %q is not a duration", value)
			}
		}
		if !on {
			d = 0
		}
		h.SSH.Delay(d)
	case "auth-refused":
		h.SSH.AuthRefuse(on)
	case "hostkey-changed":
		h.SSH.ChangeHostKey(on)
	case "disk-full":
		h.SSH.DiskFull(on)
	case "drop-transfer":
		n := int64(64 << 10)
		if on && value != "" && value != "on" {
			var err error
			if n, err = strconv.ParseInt(value, 10, 64); err != nil || n <= 0 {
				return fmt.Errorf("drop-transfer: %q is not a byte count", value)
			}
		}
		if !on {
			n = 0
		}
		h.SSH.DropAfterBytes(n)
	case "api-409", "api-5xx", "apply-failed", "token-expired":
		return l.setAPIFault(h, kind, value)
	default:
		known := append([]string{}, Faults...)
		sort.Strings(known)
		return fmt.Errorf("unknown fault %q; known: %s", kind, strings.Join(known, ", "))
	}
	return nil
}

// HostStats counts what a simulated Manager's servers saw since the lab
// started: what a benchmark needs to tell connections and round trips.
type HostStats struct {
	Connections  int `json:"connections"`   // SSH handshakes completed
	Sessions     int `json:"sessions"`      // SSH session channels (one per command, one per SFTP subsystem)
	Commands     int `json:"commands"`      // exec requests
	SFTPSessions int `json:"sftp_sessions"` // SFTP subsystems
	SFTPRequests int `json:"sftp_requests"` // SFTP requests that wait for an answer
	APIRequests  int `json:"api_requests"`
	APILogins    int `json:"api_logins"`
	APIPuts      int `json:"api_puts"` // accepted configuration PUTs
}

// Stats returns every host's counters.
func (l *Lab) Stats() map[string]HostStats {
	out := map[string]HostStats{}
	for _, h := range l.Hosts {
		st := h.SSH.Stats()
		hs := HostStats{
			Connections: st.Handshakes, Sessions: st.Sessions, Commands: len(st.Execs),
			SFTPSessions: st.SFTPSessions, SFTPRequests: st.SFTPRequests,
		}
		if h.API != nil {
			as := h.API.Stats()
			for _, n := range as.Requests {
				hs.APIRequests += n
			}
			hs.APILogins, hs.APIPuts = as.Logins, as.Puts
		}
		out[h.Name] = hs
	}
	return out
}
