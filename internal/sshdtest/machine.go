package sshdtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Fleets in concurrent test processes (go test runs packages in parallel)
// share two machine-wide resources: the 127.0.0.N:22 listen addresses and
// the /lancope mount point. They coordinate through abstract unix sockets,
// which need no files and are released by the kernel when their process
// dies, so a crashed test never leaves a stale lock behind.
const (
	sockPrefix = "@smcfleet-sshdtest/"
	mutexName  = sockPrefix + "mutex"
	firstHost  = 2 // 127.0.0.1 is left to everything else
	lastHost   = 254

	// lancopeMount is where each host sees its own directory.
	lancopeMount = "/lancope"
	// lancopeMarker records that a fleet created lancopeMount, so that the
	// last fleet to end removes it (and only it) again. It is a file, not a
	// socket, because it must outlive a crashed test to be honoured.
	lancopeMarker = "/run/smcfleet-sshdtest.lancope-created"
)

// machineLock is held while a fleet claims addresses and prepares
// /lancope, and while it releases them.
type machineLock struct{ l net.Listener }

func lockMachine(timeout time.Duration) (*machineLock, error) {
	deadline := time.Now().Add(timeout)
	for {
		l, err := net.Listen("unix", mutexName)
		if err == nil {
			return &machineLock{l: l}, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("machine lock: %w", err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("machine lock: still held by another test process after %v", timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (m *machineLock) unlock() { m.l.Close() }

func addrSocket(n int) string { return fmt.Sprintf("%s127.0.0.%d", sockPrefix, n) }

// claimAddrs reserves count loopback addresses whose port 22 is free. The
// returned listeners are the reservations: close them to release. Call
// with the machine lock held.
func claimAddrs(count int) ([]int, []net.Listener, error) {
	var ns []int
	var claims []net.Listener
	for n := firstHost; n <= lastHost && len(ns) < count; n++ {
		claim, err := net.Listen("unix", addrSocket(n))
		if err != nil {
			continue // another fleet has it
		}
		// Something other than a fleet (a system sshd on 0.0.0.0:22, say)
		// may hold the port; probe it. sshd binds with SO_REUSEADDR, as Go
		// does, so closing the probe leaves the port free for it.
		probe, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:22", n))
		if err != nil {
			claim.Close()
			continue
		}
		probe.Close()
		ns = append(ns, n)
		claims = append(claims, claim)
	}
	if len(ns) < count {
		for _, c := range claims {
			c.Close()
		}
		return nil, nil, fmt.Errorf("only %d of %d addresses 127.0.0.%d-%d have port 22 free", len(ns), count, firstHost, lastHost)
	}
	return ns, claims, nil
}

// otherFleetsAlive reports whether any fleet, in any process, still holds
// an address. Call with the machine lock held, after releasing your own.
func otherFleetsAlive() bool {
	for n := firstHost; n <= lastHost; n++ {
		l, err := net.Listen("unix", addrSocket(n))
		if err != nil {
			return true
		}
		l.Close()
	}
	return false
}

// ensureLancope makes sure the mount point exists. Call with the machine
// lock held.
func ensureLancope() error {
	fi, err := os.Lstat(lancopeMount)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("%s exists and is not a directory", lancopeMount)
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	// The marker first: if we die between the two, a later fleet removes
	// the marker harmlessly; the other order could leak the directory.
	if err := os.WriteFile(lancopeMarker, []byte("created by internal/sshdtest\n"), 0o644); err != nil {
		return fmt.Errorf("mark %s: %w", lancopeMount, err)
	}
	if err := os.Mkdir(lancopeMount, 0o755); err != nil {
		return fmt.Errorf("create mount point: %w", err)
	}
	return nil
}

// releaseLancope removes the mount point if a fleet created it, no fleet
// uses it any more, and it is still empty. Call with the machine lock
// held, after releasing this fleet's addresses.
func releaseLancope() error {
	if _, err := os.Stat(lancopeMarker); err != nil || otherFleetsAlive() {
		return nil
	}
	entries, err := os.ReadDir(lancopeMount)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(entries) > 0 {
		// Someone put files there: not ours to delete, and no longer ours.
		return os.Remove(lancopeMarker)
	}
	if err := os.Remove(lancopeMount); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Remove(lancopeMarker)
}
