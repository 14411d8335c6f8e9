package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/smcfleet/smcfleet/internal/smc"
	"github.com/smcfleet/smcfleet/inventory"
	"github.com/smcfleet/smcfleet/runner"
)

// apiPool opens one API session per host for a command, on first use, and
// logs every session out at the end.
type apiPool struct {
	warn io.Writer
	mu   sync.Mutex
	apis map[string]*apiEntry
}

type apiEntry struct {
	once   sync.Once
	client *smc.Client
	err    error
}

func newAPIPool(warn io.Writer) *apiPool {
	return &apiPool{warn: warn, apis: map[string]*apiEntry{}}
}

// API implements runner.APIConnector.
func (p *apiPool) API(ctx context.Context, t runner.Target) (runner.ManagerAPI, error) {
	h, ok := t.Data.(*inventory.Host)
	if !ok {
		return nil, fmt.Errorf("%s: no inventory entry", t.Name)
	}
	c, err := p.client(h)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (p *apiPool) client(h *inventory.Host) (*smc.Client, error) {
	p.mu.Lock()
	e, ok := p.apis[h.Name]
	if !ok {
		e = &apiEntry{}
		p.apis[h.Name] = e
	}
	p.mu.Unlock()
	e.once.Do(func() {
		if h.API == nil {
			e.err = fmt.Errorf("%s has no api block in the inventory: add api { url, username, password, ca_file or fingerprint_sha256 }", h.Name)
			return
		}
		e.client, e.err = smc.New(smc.Config{
			URL:               h.API.URL,
			Username:          h.API.Username,
			Password:          h.API.Password,
			CAFile:            h.API.CAFile,
			FingerprintSHA256: h.API.FingerprintSHA256,
			Insecure:          h.API.Insecure,
		})
		if e.err == nil {
			if w := e.client.Warning(); w != "" {
				fmt.Fprintf(p.warn, "WARNING: %s: %s\n", h.Name, w)
			}
		} else {
			e.err = fmt.Errorf("%s: api: %w", h.Name, e.err)
		}
	})
	return e.client, e.err
}

// Close logs out every session.
func (p *apiPool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range p.apis {
		if e.client == nil {
			continue
		}
		wg.Add(1)
		go func(c *smc.Client) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10e9)
			defer cancel()
			c.Logout(ctx)
		}(e.client)
	}
	wg.Wait()
}
