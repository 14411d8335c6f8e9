package ses

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/smcfleet/smcfleet/internal/lab/labca"
)

// DHECipher is the openssl cipher string of the legacy-DHE backend.
const DHECipher = "DHE:@SECLEVEL=0"

// spliceTimeout bounds one DHE session (probes last milliseconds).
const spliceTimeout = 60 * time.Second

// oakleyGroup2 is the 1024-bit MODP group of RFC 2409 section 6.2 (the
// "logjam" size), generator 2. A fixed public group: `openssl dhparam
// -dsaparam` writes X9.42 parameters that s_server 3.0 refuses ("unexpected
// parameters type") and falls back to 2048 bits, and generating a safe
// prime without -dsaparam takes about a second.
const oakleyGroup2 = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1" +
	"29024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
	"EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245" +
	"E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
	"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381" +
	"FFFFFFFFFFFFFFFF"

// DH1024PEM is the PKCS#3 "DH PARAMETERS" PEM of the 1024-bit group.
func DH1024PEM() []byte {
	p, _ := new(big.Int).SetString(oakleyGroup2, 16)
	der, err := asn1.Marshal(struct{ P, G *big.Int }{p, big.NewInt(2)})
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "DH PARAMETERS", Bytes: der})
}

// TLS 1.2 suites SES offered (RSA certificate): those Go implements...
var legacyGoSuites = []uint16{
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// ...and the DHE-RSA ones, which only openssl can serve.
var dheSuites = map[uint16]bool{
	0x0033: true, // DHE-RSA-AES128-SHA
	0x0039: true, // DHE-RSA-AES256-SHA
	0x0067: true, // DHE-RSA-AES128-SHA256
	0x006B: true, // DHE-RSA-AES256-SHA256
	0x009E: true, // DHE-RSA-AES128-GCM-SHA256
	0x009F: true, // DHE-RSA-AES256-GCM-SHA384
	0xCCAA: true, // DHE-RSA-CHACHA20-POLY1305
	0x0045: true, // DHE-RSA-CAMELLIA128-SHA
	0x0088: true, // DHE-RSA-CAMELLIA256-SHA
	0x00BE: true, // DHE-RSA-CAMELLIA128-SHA256
	0x00C4: true, // DHE-RSA-CAMELLIA256-SHA256
	0xC09E: true, // DHE-RSA-AES128-CCM
	0xC09F: true, // DHE-RSA-AES256-CCM
	0xC0A2: true, // DHE-RSA-AES128-CCM8
	0xC0A3: true, // DHE-RSA-AES256-CCM8
}

// prefersDHE: the first suite, in the client's order, that the legacy
// endpoint supports is a DHE one. SES honoured the client's order: a default
// openssl client (ECDHE first) got ECDH P-256, `-cipher EDH` got DH 1024.
func prefersDHE(suites []uint16) bool {
	for _, c := range suites {
		if dheSuites[c] {
			return true
		}
		for _, g := range legacyGoSuites {
			if c == g {
				return false
			}
		}
	}
	return false
}

// dheState is legacy-DHE mode's openssl side: the files s_server reads,
// the probe listeners, and the running processes.
type dheState struct {
	s          *Server
	openssl    string
	dir        string
	cert, key  string
	chain, dh  string
	starttlsLn net.Listener
	smtpsLn    net.Listener

	mu     sync.Mutex
	closed bool
	procs  map[*exec.Cmd]struct{}
	wg     sync.WaitGroup
}

func (s *Server) startDHE() (*dheState, error) {
	path, err := exec.LookPath(s.openssl)
	if err != nil {
		return nil, fmt.Errorf("ses: legacy DHE needs the openssl command-line tool (Debian package openssl), which was not found: %w", err)
	}
	d := &dheState{s: s, openssl: path, procs: map[*exec.Cmd]struct{}{}}
	ok := false
	defer func() {
		if !ok {
			d.close()
		}
	}()
	if d.dir, err = os.MkdirTemp("", "ses-dhe-"); err != nil {
		return nil, err
	}
	d.cert = filepath.Join(d.dir, "leaf.pem")
	d.key = filepath.Join(d.dir, "key.pem")
	d.chain = filepath.Join(d.dir, "chain.pem")
	d.dh = filepath.Join(d.dir, "dh1024.pem")
	keyPEM, err := s.chain.LeafKeyPEM()
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{d.cert, s.chain.LeafPEM(), 0o644},
		{d.key, keyPEM, 0o600},
		{d.chain, s.chain.IntermediatesPEM(), 0o644},
		{d.dh, DH1024PEM(), 0o644},
	} {
		if err := labca.WriteFileAtomic(f.path, f.data, f.mode); err != nil {
			return nil, err
		}
	}
	// Fail now, with openssl's own words, if it rejects the options.
	addr, stop, err := d.spawn()
	if err != nil {
		return nil, err
	}
	_ = addr
	stop()

	listen := func(a string) (net.Listener, error) {
		if a == "" {
			a = net.JoinHostPort(s.host, "0")
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return nil, fmt.Errorf("ses: listen %s: %w", a, err)
		}
		return ln, nil
	}
	if d.starttlsLn, err = listen(s.opts.DHESTARTTLSListen); err != nil {
		return nil, err
	}
	if d.smtpsLn, err = listen(s.opts.DHESMTPSListen); err != nil {
		return nil, err
	}
	ok = true
	return d, nil
}

// spawn starts one `openssl s_server -naccept 1` on an ephemeral loopback
// port, in its own process group, and returns its address and a function
// that kills the group and waits for it.
func (d *dheState) spawn() (string, func(), error) {
	cmd := exec.Command(d.openssl, "s_server",
		"-accept", "127.0.0.1:0", "-naccept", "1", "-rev",
		"-cert", d.cert, "-key", d.key, "-cert_chain", d.chain,
		"-dhparam", d.dh, "-cipher", DHECipher, "-no_tls1_3")
	r, w, err := os.Pipe()
	if err != nil {
		return "", nil, err
	}
	var stderr limitedBuffer
	cmd.Stdout = w
	cmd.Stderr = &stderr
	setProcGroup(cmd)

	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		r.Close()
		w.Close()
		return "", nil, errors.New("ses: legacy DHE stopped")
	}
	err = cmd.Start()
	if err == nil {
		d.procs[cmd] = struct{}{}
		// Added under d.mu, which close takes before Wait: no Add can
		// race with close's Wait.
		d.wg.Add(2)
	}
	d.mu.Unlock()
	w.Close()
	if err != nil {
		r.Close()
		return "", nil, fmt.Errorf("ses: starting openssl s_server: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		defer d.wg.Done()
		_ = cmd.Wait()
		close(exited)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			killGroup(cmd)
			<-exited
			d.mu.Lock()
			delete(d.procs, cmd)
			d.mu.Unlock()
		})
	}

	// s_server prints "ACCEPT 127.0.0.1:PORT" once it listens; the rest of
	// its stdout is drained.
	acc := make(chan string, 1)
	go func() {
		defer d.wg.Done()
		defer r.Close()
		sc := bufio.NewScanner(r)
		found := false
		for sc.Scan() {
			if l := sc.Text(); !found && strings.HasPrefix(l, "ACCEPT ") {
				found = true
				acc <- strings.TrimSpace(strings.TrimPrefix(l, "ACCEPT "))
			}
		}
		_, _ = io.Copy(io.Discard, r)
		if !found {
			close(acc)
		}
	}()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case a, ok := <-acc:
		if ok {
			return a, stop, nil
		}
		stop()
		return "", nil, fmt.Errorf("ses: openssl s_server exited: %s", strings.TrimSpace(stderr.String()))
	case <-t.C:
		stop()
		return "", nil, fmt.Errorf("ses: openssl s_server did not start listening: %s", strings.TrimSpace(stderr.String()))
	}
}

// splice connects the client's raw stream (br holds what was already read
// from it, such as the ClientHello) to a fresh openssl s_server and copies
// both ways until both sides are done, at most spliceTimeout.
func (d *dheState) splice(ss *session, client net.Conn, br *bufio.Reader) {
	addr, stop, err := d.spawn()
	if err != nil {
		d.s.record(Event{Kind: EventDHEError, Listener: ss.listener, RemoteAddr: ss.remote, Reply: err.Error()})
		return
	}
	defer stop()
	back, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		d.s.record(Event{Kind: EventDHEError, Listener: ss.listener, RemoteAddr: ss.remote, Reply: err.Error()})
		return
	}
	defer back.Close()
	dl := time.Now().Add(spliceTimeout)
	_ = client.SetDeadline(dl)
	_ = back.SetDeadline(dl)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(back, br)
		if tc, ok := back.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	_, _ = io.Copy(client, back)
	// openssl is done (its side closed): end the client's side too.
	client.Close()
	<-done
}

// close stops the probe listeners, kills every openssl and removes the files.
func (d *dheState) close() {
	if d == nil {
		return
	}
	d.mu.Lock()
	d.closed = true
	procs := make([]*exec.Cmd, 0, len(d.procs))
	for c := range d.procs {
		procs = append(procs, c)
	}
	d.mu.Unlock()
	if d.starttlsLn != nil {
		d.starttlsLn.Close()
	}
	if d.smtpsLn != nil {
		d.smtpsLn.Close()
	}
	for _, c := range procs {
		killGroup(c)
	}
	d.wg.Wait()
	if d.dir != "" {
		os.RemoveAll(d.dir)
	}
}

// limitedBuffer keeps the first 8 KiB written to it.
type limitedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := 8192 - l.b.Len(); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		l.b.Write(p[:room])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
