package sshconn

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyKind says why a host key was rejected.
type HostKeyKind int

const (
	// Unknown: no known_hosts entry and no pin for the host.
	Unknown HostKeyKind = iota + 1
	// Changed: the host is known with a different key. Possibly an attack.
	Changed
)

func (k HostKeyKind) String() string {
	switch k {
	case Unknown:
		return "unknown"
	case Changed:
		return "changed"
	}
	return fmt.Sprintf("HostKeyKind(%d)", int(k))
}

// HostKeyError reports a host key that was not accepted.
type HostKeyError struct {
	Kind HostKeyKind
	// Host is the known_hosts form of the address, e.g. "[10.0.0.5]:2222".
	Host string
	// Name is the host's inventory label, for messages.
	Name string
	// Fingerprint is the presented key's SHA256 fingerprint.
	Fingerprint string
	// KeyLine is the presented key in authorized_keys format.
	KeyLine string
	// Want lists the fingerprints that would have been accepted.
	Want []string
	// KnownHostsFile and Line locate the conflicting entry of a changed key
	// (Line is 0 when the expectation came from a pin).
	KnownHostsFile string
	Line           int
}

func (e *HostKeyError) Error() string {
	label := e.Host
	if e.Name != "" && e.Name != e.Host {
		label = fmt.Sprintf("%s (%s)", e.Name, e.Host)
	}
	switch e.Kind {
	case Changed:
		where := "the host_keys pinned in the inventory"
		if e.KnownHostsFile != "" {
			where = fmt.Sprintf("%s:%d", e.KnownHostsFile, e.Line)
		}
		return fmt.Sprintf("host key for %s has CHANGED: server presented %s, expected %s (from %s); "+
			"this may be an attack; if the host was legitimately reinstalled, remove the old entry "+
			"(ssh-keygen -R '%s' -f %s) or update host_keys, then reconnect",
			label, e.Fingerprint, strings.Join(e.Want, ", "), where, e.Host, knownHostsHint(e.KnownHostsFile))
	default:
		return fmt.Sprintf("host key for %s is unknown (%s); verify it out of band, then trust it with "+
			"--accept-new, or add %q to host_keys in the inventory, or append this line to %s: %s",
			label, e.Fingerprint, e.Fingerprint, knownHostsHint(e.KnownHostsFile),
			knownhosts.Line([]string{e.Host}, mustParseKeyLine(e.KeyLine)))
	}
}

func knownHostsHint(file string) string {
	if file == "" {
		return "~/.ssh/known_hosts"
	}
	return file
}

func mustParseKeyLine(line string) ssh.PublicKey {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil
	}
	return k
}

// pin is one accepted host key: a full key or only its fingerprint.
type pin struct {
	key         ssh.PublicKey // nil for fingerprint pins
	fingerprint string
}

func parsePins(lines []string) ([]pin, error) {
	var pins []pin
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "SHA256:") {
			pins = append(pins, pin{fingerprint: line})
			continue
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("host key pin %q: want \"ssh-ed25519 AAAA...\" or \"SHA256:...\": %w", line, err)
		}
		pins = append(pins, pin{key: k, fingerprint: ssh.FingerprintSHA256(k)})
	}
	return pins, nil
}

// hostKeyChecker verifies one hop's host key against known_hosts and pins.
type hostKeyChecker struct {
	name      string
	host      string // knownhosts.Normalize form, for messages and recording
	addr      string // host:port, always with a port, for the knownhosts callback
	file      string
	acceptNew bool
	pins      []pin
	known     []knownhosts.KnownKey // entries for host in file
	db        ssh.HostKeyCallback   // nil when the file does not exist
}

func newHostKeyChecker(cfg *Config) (*hostKeyChecker, error) {
	hc := &hostKeyChecker{
		name:      cfg.Name,
		host:      knownhosts.Normalize(cfg.addr()),
		addr:      cfg.addr(),
		file:      cfg.KnownHostsFile,
		acceptNew: cfg.AcceptNew,
	}
	var err error
	if hc.pins, err = parsePins(cfg.HostKeys); err != nil {
		return nil, err
	}
	if cfg.AcceptNew && hc.file == "" {
		return nil, errors.New("accept-new needs a known_hosts file to record keys in")
	}
	if err := hc.load(); err != nil {
		return nil, err
	}
	return hc, nil
}

func (hc *hostKeyChecker) load() error {
	hc.db, hc.known = nil, nil
	if hc.file == "" {
		return nil
	}
	db, err := knownhosts.New(hc.file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read known_hosts: %w", err)
	}
	hc.db = db
	hc.known = knownKeys(db, hc.addr)
	return nil
}

// probeKey never matches a real host key; checking it makes knownhosts list
// every key it holds for a host (KeyError.Want).
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, _ := ed25519.GenerateKey(nil)
	k, _ := ssh.NewPublicKey(pub)
	return k
})

var zeroAddr = &net.TCPAddr{IP: net.IPv4zero}

// knownKeys lists the keys db holds for addr, which must be host:port
// (Normalize drops ":22", which the callback cannot parse).
func knownKeys(db ssh.HostKeyCallback, addr string) []knownhosts.KnownKey {
	var ke *knownhosts.KeyError
	if errors.As(db(addr, zeroAddr, probeKey()), &ke) {
		return ke.Want
	}
	return nil
}

// algorithms are the host key algorithms to offer: those of the keys we
// know, so a server with several host keys presents the one we have
// instead of looking changed. Nil means the library default.
func (hc *hostKeyChecker) algorithms() []string {
	var algos []string
	add := func(k ssh.PublicKey) {
		for _, a := range keyAlgorithms(k.Type()) {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	for _, k := range hc.known {
		add(k.Key)
	}
	for _, p := range hc.pins {
		if p.key == nil {
			if len(hc.known) == 0 {
				return nil // a bare fingerprint does not tell the type
			}
			continue
		}
		add(p.key)
	}
	return algos
}

func keyAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

func (hc *hostKeyChecker) callback(_ string, _ net.Addr, key ssh.PublicKey) error {
	if err := hc.check(key); !hc.isUnknown(err) || !hc.acceptNew {
		return err
	}
	return hc.record(key)
}

func (hc *hostKeyChecker) isUnknown(err error) bool {
	var he *HostKeyError
	return errors.As(err, &he) && he.Kind == Unknown
}

func (hc *hostKeyChecker) check(key ssh.PublicKey) error {
	fp := ssh.FingerprintSHA256(key)
	newErr := func(kind HostKeyKind) *HostKeyError {
		return &HostKeyError{
			Kind: kind, Host: hc.host, Name: hc.name, Fingerprint: fp,
			KeyLine:        strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))),
			KnownHostsFile: hc.file,
		}
	}
	// A known_hosts entry of the same type that differs is a changed key,
	// whatever the pins say.
	var sameType []knownhosts.KnownKey
	for _, k := range hc.known {
		if bytes.Equal(k.Key.Marshal(), key.Marshal()) {
			return nil
		}
		if k.Key.Type() == key.Type() {
			sameType = append(sameType, k)
		}
	}
	if hc.db != nil {
		var re *knownhosts.RevokedError
		if err := hc.db(hc.addr, zeroAddr, key); errors.As(err, &re) {
			return fmt.Errorf("host key for %s is revoked in %s:%d", hc.host, re.Revoked.Filename, re.Revoked.Line)
		}
	}
	if len(sameType) > 0 {
		e := newErr(Changed)
		for _, k := range sameType {
			e.Want = append(e.Want, ssh.FingerprintSHA256(k.Key))
		}
		e.Line = sameType[0].Line
		e.KnownHostsFile = sameType[0].Filename
		return e
	}
	for _, p := range hc.pins {
		if p.fingerprint == fp {
			return nil
		}
	}
	if len(hc.pins) == 0 && len(hc.known) == 0 {
		return newErr(Unknown)
	}
	e := newErr(Changed)
	for _, k := range hc.known {
		e.Want = append(e.Want, ssh.FingerprintSHA256(k.Key))
		if e.Line == 0 {
			e.KnownHostsFile, e.Line = k.Filename, k.Line
		}
	}
	if e.Line == 0 {
		e.KnownHostsFile = ""
	}
	for _, p := range hc.pins {
		e.Want = append(e.Want, p.fingerprint)
	}
	return e
}

// fileLocks serialises known_hosts appends within the process; flock
// serialises them across processes.
var fileLocks sync.Map // path -> *sync.Mutex

// record appends an unknown key to the known_hosts file, after re-reading
// it under the lock so parallel dials never write duplicates and never
// record a key that another writer just recorded differently.
func (hc *hostKeyChecker) record(key ssh.PublicKey) error {
	path, err := filepath.Abs(hc.file)
	if err != nil {
		return err
	}
	mu, _ := fileLocks.LoadOrStore(path, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)

	if err := hc.load(); err != nil {
		return err
	}
	if err := hc.check(key); !hc.isUnknown(err) {
		return err
	}
	content, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	line := knownhosts.Line([]string{hc.host}, key) + "\n"
	if len(content) > 0 && content[len(content)-1] != '\n' {
		line = "\n" + line
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("record host key in %s: %w", path, err)
	}
	return f.Sync()
}
