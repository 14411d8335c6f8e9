package lab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/smcfleet/smcfleet/internal/atomicfile"
	"github.com/smcfleet/smcfleet/internal/lab/labca"
	"github.com/smcfleet/smcfleet/internal/lab/smcapi"
)

// APIUser is the API account the lab's inventory logs in with (Cisco's
// scripts recommend a dedicated API account).
const APIUser = "smcfleet-api"

// hostAPI is a Manager's HTTPS API server.
type hostAPI struct {
	api  *smcapi.Server
	srv  *http.Server
	url  string
	down atomic.Bool
}

func (l *Lab) startAPI(h *Host) error {
	cert, err := l.apiCA.Issue(h.Name+".lab.example", []string{h.Name + ".lab.example", "localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	api := smcapi.New(smcapi.Options{
		FQDN:     h.Name + ".lab.example",
		Username: APIUser,
		Password: l.apiPassword,
		Primary:  true,
		Now:      l.now,
		Others: []smcapi.Appliance{
			{ID: "fc-" + h.Name, FQDN: "fc-" + h.Name + ".lab.example", ApplianceType: "FlowCollector"},
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ha := &hostAPI{api: api, url: "https://" + ln.Addr().String()}
	handler := api.Handler()
	ha.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ha.down.Load() {
				// A Manager that is down does not answer at all.
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						c.Close()
						return
					}
				}
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			handler.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         tlsServerConfig(cert),
	}
	go ha.srv.ServeTLS(ln, "", "")
	l.closers = append(l.closers, ha.srv.Close)
	h.API = ha.api
	h.api = ha
	return nil
}

func (l *Lab) setAPIDown(h *Host, on bool) {
	if h.api != nil {
		h.api.down.Store(on)
	}
}

func (l *Lab) setAPIFault(h *Host, kind, value string) error {
	if h.api == nil {
		return fmt.Errorf("%s has no API", h.Name)
	}
	on := value != "off"
	count := func() int {
		if !on {
			return 0
		}
		if n, err := strconv.Atoi(value); err == nil && n > 0 {
			return n
		}
		return 3
	}
	switch kind {
	case "api-409":
		h.API.Conflict(count())
	case "api-5xx":
		h.API.ServerErrors(count())
	case "apply-failed":
		h.API.FailNextApply(on)
	case "token-expired":
		if on {
			h.API.ExpireTokens()
		}
	}
	return nil
}

func (l *Lab) initAPI() error {
	ca, err := labca.NewCA("smcfleet lab Manager CA")
	if err != nil {
		return err
	}
	l.apiCA = ca
	buf := make([]byte, 12)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	l.apiPassword = "lab-" + hex.EncodeToString(buf)
	if err := labca.WritePEM(filepath.Join(l.Dir, "lab-ca.pem"), ca.Cert); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(l.Dir, "api-password"), []byte(l.apiPassword), 0o600)
}
