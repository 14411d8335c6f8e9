package playbooks

import (
	"io/fs"
	"os"
)

// osFS reads the real file system with ordinary OS paths (absolute or
// relative to the working directory), which os.DirFS does not allow.
type osFS struct{}

func (osFS) Open(name string) (fs.File, error)          { return os.Open(name) }
func (osFS) Stat(name string) (fs.FileInfo, error)      { return os.Stat(name) }
func (osFS) ReadFile(name string) ([]byte, error)       { return os.ReadFile(name) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }
