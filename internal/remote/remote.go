// Package remote holds the plain data types that cross the boundary between
// the runner and a transport. The runner declares the interface it consumes
// (runner.Conn); transports such as internal/sshconn return concrete types
// whose methods use these types, so neither side imports the other.
package remote

import (
	"io/fs"
	"time"
)

// CmdResult is the outcome of a remote command. A non-zero exit status is
// data, not an error: transports return an error only when the command could
// not be run or its status could not be learnt (connection lost, cancelled).
type CmdResult struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
	// Signal is set when the remote process was killed by a signal
	// (for example "TERM" after a cancelled context); ExitCode is then -1.
	Signal string
}

// FileInfo describes a remote path. Exists is false (and the error nil) when
// the path does not exist.
type FileInfo struct {
	Path    string
	Exists  bool
	IsDir   bool
	Size    int64
	Mode    fs.FileMode // permission bits only
	UID     int
	GID     int
	ModTime time.Time
}

// WriteOptions controls an atomic file write. Nil fields preserve the
// existing file's value, or use the default for a new file (0644, the
// connecting user's owner).
type WriteOptions struct {
	Mode *fs.FileMode
	UID  *int
	GID  *int
}
