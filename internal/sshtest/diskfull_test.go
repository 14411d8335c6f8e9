package sshtest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/sftp"

	"github.com/smcfleet/smcfleet/internal/sshtest"
)

func TestDiskFull(t *testing.T) {
	root := t.TempDir()
	s := sshtest.NewServer(t, sshtest.WithRoot(root))
	sc, err := sftp.NewClient(connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	s.DiskFull(true)
	f, err := sc.Create("/full.txt")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Write([]byte("some content"))
	f.Close()
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("write on a full disk: got %v, want ENOSPC", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "full.txt")); len(b) != 0 {
		t.Errorf("got %q written, want nothing", b)
	}

	s.DiskFull(false)
	f, err = sc.Create("/ok.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("fine")); err != nil {
		t.Errorf("write after the disk was freed: %v", err)
	}
	f.Close()
}
