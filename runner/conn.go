package runner

import (
	"context"
	"io"
	"io/fs"
	"net"

	"github.com/smcfleet/smcfleet/internal/remote"
)

// Conn is what the runner needs from a connection to one host. Every method
// takes a context whose cancellation must reach the wire: a running command
// is signalled, a stalled transfer is aborted.
//
// The SSH transport (internal/sshconn) returns a concrete type that satisfies
// it over one SSH connection shared by commands and SFTP.
type Conn interface {
	// Run runs cmd through the remote user's shell. stdin may be nil
	// (stdin is then closed at once).
	Run(ctx context.Context, cmd string, stdin io.Reader) (remote.CmdResult, error)
	// Stat reports on path without following a final symlink's target
	// being missing as an error: a missing path is Exists=false, err=nil.
	Stat(ctx context.Context, path string) (remote.FileInfo, error)
	// ReadFile reads at most limit bytes of path; a larger file is an error.
	ReadFile(ctx context.Context, path string, limit int64) ([]byte, error)
	// WriteFile replaces path atomically: it writes a temp file in the same
	// directory, syncs it, applies mode and owner, and renames it over path.
	// An interruption leaves either the old content or the new, never a
	// truncated file. Mode and owner of an existing file are preserved
	// unless set in opt.
	WriteFile(ctx context.Context, path string, data []byte, opt remote.WriteOptions) error
	// CopyNoClobber copies src to dst only if dst does not exist, atomically
	// (temp file, sync, then a link that fails if dst appeared meanwhile).
	// It reports whether dst was created; an existing dst is left untouched
	// and is not an error.
	CopyNoClobber(ctx context.Context, src, dst string) (created bool, err error)
	// MkdirAll creates a directory and its missing parents with mode;
	// an existing directory is left alone.
	MkdirAll(ctx context.Context, path string, mode fs.FileMode) error
	// Glob expands a remote path pattern (path.Match syntax) in sorted order.
	Glob(ctx context.Context, pattern string) ([]string, error)
	// Remove deletes a file; a missing file is not an error. Rollback uses
	// it for files that did not exist before the run.
	Remove(ctx context.Context, path string) error
	// Open opens a remote file for streaming reads.
	Open(ctx context.Context, path string) (io.ReadCloser, error)
	// Close ends the connection.
	Close() error
}

// TunnelDialer is implemented by connections that can open a TCP
// connection from the host's side (an SSH direct-tcpip channel), for steps
// that must see the network as the host sees it without running a program
// there.
type TunnelDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}
