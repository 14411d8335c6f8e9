package runner

import (
	"context"
	"sync"
)

// Pool is a Connector that opens at most one connection per host for the
// whole life of a command (a plan followed by an apply shares it), and
// remembers a failure so a host is not dialled twice.
type Pool struct {
	dial  func(ctx context.Context, t Target) (Conn, error)
	mu    sync.Mutex
	conns map[string]*poolEntry
}

type poolEntry struct {
	once sync.Once
	conn Conn
	err  error
}

// NewPool returns a Pool that opens connections with dial.
func NewPool(dial func(ctx context.Context, t Target) (Conn, error)) *Pool {
	return &Pool{dial: dial, conns: map[string]*poolEntry{}}
}

// Connect returns the host's connection, dialling it the first time.
func (p *Pool) Connect(ctx context.Context, t Target) (Conn, error) {
	p.mu.Lock()
	e, ok := p.conns[t.Name]
	if !ok {
		e = &poolEntry{}
		p.conns[t.Name] = e
	}
	p.mu.Unlock()
	e.once.Do(func() { e.conn, e.err = p.dial(ctx, t) })
	return e.conn, e.err
}

// Close closes every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first error
	for _, e := range p.conns {
		if e.err == nil && e.conn != nil {
			if err := e.conn.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	p.conns = map[string]*poolEntry{}
	return first
}
