package sshconn

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestKnownHostsDefaultPort: on port 22 known_hosts names the host without
// a port; the checker must still find its keys (knownhosts.Normalize drops
// ":22", but the callback needs host:port).
func TestKnownHostsDefaultPort(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ssh.NewPublicKey(pub)
	file := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{"10.0.0.11"}, key) + "\n"
	if err := os.WriteFile(file, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, port := range []int{0, 22} {
		cfg := &Config{Address: "10.0.0.11", Port: port, KnownHostsFile: file}
		hc, err := newHostKeyChecker(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(hc.known); got != 1 {
			t.Errorf("port %d: got %d known keys, want 1", port, got)
		}
		if err := hc.check(key); err != nil {
			t.Errorf("port %d: check of the known key: got %v, want nil", port, err)
		}
	}
}
