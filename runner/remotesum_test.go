package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/smcfleet/smcfleet/internal/remote"
)

// noSHA256sum is a host without sha256sum: every command exits 127.
type noSHA256sum struct{ *logScanConn }

func (noSHA256sum) Run(context.Context, string, io.Reader) (remote.CmdResult, error) {
	return remote.CmdResult{ExitCode: 127, Stderr: []byte("sh: sha256sum: not found\n")}, nil
}

// TestRemoteSHA256WithoutSha256sum: the files are hashed as they stream
// over SFTP instead, and a missing file is simply absent.
func TestRemoteSHA256WithoutSha256sum(t *testing.T) {
	root := t.TempDir()
	data := []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	if err := os.MkdirAll(filepath.Join(root, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "certs", "a.pem"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	env := &Env{Conn: noSHA256sum{&logScanConn{root: root, access: "stream"}}}
	sums, err := remoteSHA256(context.Background(), env, []string{"/certs/a.pem", "/certs/missing.pem"})
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if got := sums["/certs/a.pem"]; got != hex.EncodeToString(want[:]) {
		t.Errorf("sum of a.pem: got %q, want %x", got, want)
	}
	if _, ok := sums["/certs/missing.pem"]; ok || len(sums) != 1 {
		t.Errorf("got %v, want only a.pem", sums)
	}
}
