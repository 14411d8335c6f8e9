package sshtest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"
)

// fileHandler serves SFTP requests on the real filesystem, optionally
// jailed under a root with os.Root (which blocks ".." and symlink escapes).
//
// It answers plain SSH_FXP_RENAME the way OpenSSH's sftp-server does
// (link then unlink, so an existing target is never replaced), and
// posix-rename@openssh.com with rename(2), so tests see the same no-clobber
// semantics as a real Manager.
type fileHandler struct {
	root     *os.Root // nil: absolute paths on the real filesystem
	disabled []string
	diskFull *atomic.Bool // writes fail with ENOSPC while set
	// onRequest counts SFTP requests that wait for an answer (open, stat,
	// list, rename…), not the data packets of a transfer.
	onRequest func()
}

func (h *fileHandler) counted() {
	if h.onRequest != nil {
		h.onRequest()
	}
}

func newFileHandler(root string, disabled []string) (*fileHandler, error) {
	h := &fileHandler{disabled: disabled}
	if root != "" {
		r, err := os.OpenRoot(root)
		if err != nil {
			return nil, fmt.Errorf("sftp root: %w", err)
		}
		h.root = r
	}
	return h, nil
}

func (h *fileHandler) close() {
	if h.root != nil {
		h.root.Close()
	}
}

func (h *fileHandler) handlers() sftp.Handlers {
	return sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h}
}

// name maps a cleaned absolute SFTP path to what the backend takes.
func (h *fileHandler) name(p string) string {
	p = path.Clean("/" + p)
	if h.root == nil {
		return p
	}
	if p == "/" {
		return "."
	}
	return p[1:]
}

func (h *fileHandler) openFile(p string, flag int, perm fs.FileMode) (*os.File, error) {
	if h.root == nil {
		return os.OpenFile(h.name(p), flag, perm)
	}
	return h.root.OpenFile(h.name(p), flag, perm)
}

func (h *fileHandler) stat(p string) (fs.FileInfo, error) {
	if h.root == nil {
		return os.Stat(h.name(p))
	}
	return h.root.Stat(h.name(p))
}

func (h *fileHandler) lstat(p string) (fs.FileInfo, error) {
	if h.root == nil {
		return os.Lstat(h.name(p))
	}
	return h.root.Lstat(h.name(p))
}

func (h *fileHandler) link(oldname, newname string) error {
	if h.root == nil {
		return os.Link(h.name(oldname), h.name(newname))
	}
	return h.root.Link(h.name(oldname), h.name(newname))
}

func (h *fileHandler) rename(oldname, newname string) error {
	if h.root == nil {
		return os.Rename(h.name(oldname), h.name(newname))
	}
	return h.root.Rename(h.name(oldname), h.name(newname))
}

func (h *fileHandler) remove(p string) error {
	if h.root == nil {
		return os.Remove(h.name(p))
	}
	return h.root.Remove(h.name(p))
}

func (h *fileHandler) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	h.counted()
	return h.openFile(r.Filepath, os.O_RDONLY, 0)
}

func (h *fileHandler) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	return h.OpenFile(r)
}

func (h *fileHandler) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	h.counted()
	pf := r.Pflags()
	flag := os.O_WRONLY
	if pf.Read {
		flag = os.O_RDWR
	}
	if pf.Creat {
		flag |= os.O_CREATE
	}
	if pf.Trunc {
		flag |= os.O_TRUNC
	}
	if pf.Excl {
		flag |= os.O_EXCL
	}
	// O_APPEND is left out: the request server writes with WriteAt.
	perm := fs.FileMode(0o644)
	if r.AttrFlags().Permissions {
		perm = r.Attributes().FileMode().Perm()
	}
	f, err := h.openFile(r.Filepath, flag, perm)
	if err != nil || h.diskFull == nil || !h.diskFull.Load() {
		return f, err
	}
	return fullFile{f}, nil
}

// fullFile is a file on a full disk: every write fails with ENOSPC, as a
// real write(2) does once the file system has no free block.
type fullFile struct{ *os.File }

func (fullFile) WriteAt(p []byte, _ int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return 0, &fs.PathError{Op: "write", Path: "", Err: syscall.ENOSPC}
}

func (h *fileHandler) Filecmd(r *sftp.Request) error {
	h.counted()
	switch r.Method {
	case "Setstat":
		return h.setstat(r)
	case "Rename":
		return h.noClobberRename(r.Filepath, r.Target)
	case "Link":
		if slices.Contains(h.disabled, "hardlink") {
			return sftp.ErrSSHFxOpUnsupported
		}
		return h.link(r.Filepath, r.Target)
	case "Symlink":
		// r.Filepath is the link's target, stored verbatim.
		if h.root == nil {
			return os.Symlink(r.Filepath, h.name(r.Target))
		}
		return h.root.Symlink(r.Filepath, h.name(r.Target))
	case "Remove", "Rmdir":
		return h.remove(r.Filepath)
	case "Mkdir":
		if h.root == nil {
			return os.Mkdir(h.name(r.Filepath), 0o755)
		}
		return h.root.Mkdir(h.name(r.Filepath), 0o755)
	}
	return sftp.ErrSSHFxOpUnsupported
}

// PosixRename replaces the target atomically, like OpenSSH's extension.
func (h *fileHandler) PosixRename(r *sftp.Request) error {
	if slices.Contains(h.disabled, "posix-rename") {
		return sftp.ErrSSHFxOpUnsupported
	}
	return h.rename(r.Filepath, r.Target)
}

// noClobberRename is OpenSSH sftp-server's SSH2_FXP_RENAME: link+unlink so
// an existing target makes it fail; for what cannot be hard-linked
// (directories) it checks the target first.
func (h *fileHandler) noClobberRename(oldname, newname string) error {
	err := h.link(oldname, newname)
	switch {
	case err == nil:
		return h.remove(oldname)
	case errors.Is(err, fs.ErrExist):
		return err
	}
	if _, err := h.lstat(newname); err == nil {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
	}
	return h.rename(oldname, newname)
}

func (h *fileHandler) setstat(r *sftp.Request) error {
	flags, attrs := r.AttrFlags(), r.Attributes()
	name := h.name(r.Filepath)
	if flags.Size {
		f, err := h.openFile(r.Filepath, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = f.Truncate(int64(attrs.Size))
		f.Close()
		if err != nil {
			return err
		}
	}
	if flags.UidGid {
		var err error
		if h.root == nil {
			err = os.Chown(name, int(attrs.UID), int(attrs.GID))
		} else {
			err = h.root.Chown(name, int(attrs.UID), int(attrs.GID))
		}
		if err != nil {
			return err
		}
	}
	if flags.Permissions {
		mode := attrs.FileMode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		var err error
		if h.root == nil {
			err = os.Chmod(name, mode)
		} else {
			err = h.root.Chmod(name, mode)
		}
		if err != nil {
			return err
		}
	}
	if flags.Acmodtime {
		at, mt := time.Unix(int64(attrs.Atime), 0), time.Unix(int64(attrs.Mtime), 0)
		if h.root == nil {
			return os.Chtimes(name, at, mt)
		}
		return h.root.Chtimes(name, at, mt)
	}
	return nil
}

func (h *fileHandler) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	h.counted()
	switch r.Method {
	case "List":
		f, err := h.openFile(r.Filepath, os.O_RDONLY, 0)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		entries, err := f.ReadDir(-1)
		if err != nil {
			return nil, err
		}
		infos := make(listerAt, 0, len(entries))
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			infos = append(infos, fi)
		}
		return infos, nil
	case "Stat":
		fi, err := h.stat(r.Filepath)
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

func (h *fileHandler) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	h.counted()
	fi, err := h.lstat(r.Filepath)
	if err != nil {
		return nil, err
	}
	return listerAt{fi}, nil
}

func (h *fileHandler) Readlink(p string) (string, error) {
	if h.root == nil {
		return os.Readlink(h.name(p))
	}
	return h.root.Readlink(h.name(p))
}

type listerAt []fs.FileInfo

func (l listerAt) ListAt(dst []fs.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}
