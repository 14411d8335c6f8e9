package shell

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"mvdan.cc/sh/v3/interp"
)

// maxSymlinks bounds symlink expansions in one path resolution, like the
// kernel's ELOOP limit.
const maxSymlinks = 40

// jail is the simulated host's filesystem: virtual absolute paths ("/x/y")
// name files under an os.Root. Symlinks are resolved chroot-style (an
// absolute target starts again at the jail's "/", ".." stops at "/"), and
// every operation then goes through the os.Root, which refuses anything
// that would still leave it.
type jail struct {
	root *os.Root
}

// abs returns p as a virtual absolute path, relative to the virtual cwd.
// It is not cleaned: resolve gives ".." its physical meaning.
func abs(cwd, p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	if p == "" {
		return cwd
	}
	return strings.TrimSuffix(cwd, "/") + "/" + p
}

// resolve maps a virtual absolute path to a path relative to the root with
// every symlink expanded (the final one only if follow is set).
func (j *jail) resolve(vpath string, follow bool) (string, error) {
	if strings.HasSuffix(vpath, "/") || strings.HasSuffix(vpath, "/.") {
		follow = true // "link/" names the target, as in POSIX
	}
	pending := splitPath(vpath)
	var done []string
	hops := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := append(done[:len(done):len(done)], c)
		if len(pending) == 0 && !follow {
			done = cand
			break
		}
		fi, err := j.root.Lstat(strings.Join(cand, "/"))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			// A missing or plain component: the rest cannot be a
			// symlink we could expand; the operation reports the error.
			done = cand
			continue
		}
		if hops++; hops > maxSymlinks {
			return "", syscall.ELOOP
		}
		target, err := j.root.Readlink(strings.Join(cand, "/"))
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		pending = append(splitPath(target), pending...)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return strings.Join(done, "/"), nil
}

func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
}

// device is a file under /dev that the jail serves from outside the root.
func device(vpath string) string {
	switch p := path.Clean(vpath); p {
	case "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random",
		"/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/tty":
		return p
	case "/dev/fd/0", "/proc/self/fd/0":
		return "/dev/stdin"
	case "/dev/fd/1", "/proc/self/fd/1":
		return "/dev/stdout"
	case "/dev/fd/2", "/proc/self/fd/2":
		return "/dev/stderr"
	}
	return ""
}

// isInterpFIFO reports whether p is a named pipe the interpreter made for a
// process substitution, <(...) or >(...), in the real temporary directory.
func isInterpFIFO(p string) bool {
	if filepath.Dir(p) != filepath.Clean(os.TempDir()) || !strings.HasPrefix(filepath.Base(p), "sh-interp-") {
		return false
	}
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode()&fs.ModeNamedPipe != 0
}

// stdio is the open file of /dev/stdin, /dev/stdout or /dev/stderr.
type stdio struct {
	r io.Reader
	w io.Writer
}

func (s stdio) Read(p []byte) (int, error) {
	if s.r == nil {
		return 0, syscall.EBADF
	}
	return s.r.Read(p)
}

func (s stdio) Write(p []byte) (int, error) {
	if s.w == nil {
		return 0, syscall.EBADF
	}
	return s.w.Write(p)
}

func (stdio) Close() error { return nil }

// open opens a virtual path; the streams back /dev/stdin and friends.
func (j *jail) open(vpath string, flag int, perm fs.FileMode, in io.Reader, out, errw io.Writer) (io.ReadWriteCloser, error) {
	switch device(vpath) {
	case "":
	case "/dev/stdin":
		return stdio{r: in}, nil
	case "/dev/stdout":
		return stdio{w: out}, nil
	case "/dev/stderr":
		return stdio{w: errw}, nil
	case "/dev/tty":
		return nil, pathErr("open", vpath, syscall.ENXIO)
	default:
		f, err := os.OpenFile(path.Clean(vpath), flag&^(os.O_CREATE|os.O_TRUNC|os.O_EXCL), 0)
		if err != nil {
			return nil, pathErr("open", vpath, unwrap(err))
		}
		return f, nil
	}
	if isInterpFIFO(vpath) {
		return os.OpenFile(vpath, flag, 0)
	}
	f, err := j.openFile(vpath, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// openFile opens a regular file or directory inside the root.
func (j *jail) openFile(vpath string, flag int, perm fs.FileMode) (*os.File, error) {
	rel, err := j.resolve(vpath, true)
	if err != nil {
		return nil, pathErr("open", vpath, err)
	}
	f, err := j.root.OpenFile(rel, flag, perm)
	if err != nil {
		return nil, pathErr("open", vpath, unwrap(err))
	}
	return f, nil
}

func (j *jail) stat(vpath string) (fs.FileInfo, error) { return j.statMode(vpath, true) }

func (j *jail) lstat(vpath string) (fs.FileInfo, error) { return j.statMode(vpath, false) }

func (j *jail) statMode(vpath string, follow bool) (fs.FileInfo, error) {
	if d := device(vpath); d != "" {
		if d == "/dev/stdin" || d == "/dev/stdout" || d == "/dev/stderr" {
			d = "/dev/null"
		}
		return os.Stat(d)
	}
	rel, err := j.resolve(vpath, follow)
	if err != nil {
		return nil, pathErr("stat", vpath, err)
	}
	var fi fs.FileInfo
	if follow {
		fi, err = j.root.Stat(rel)
	} else {
		fi, err = j.root.Lstat(rel)
	}
	if err != nil {
		return nil, pathErr("stat", vpath, unwrap(err))
	}
	return fi, nil
}

func (j *jail) readDir(vpath string) ([]fs.DirEntry, error) {
	f, err := j.openFile(vpath, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, pathErr("readdir", vpath, unwrap(err))
	}
	return ents, nil
}

// do runs op on the resolved relative path, reporting errors on vpath.
func (j *jail) do(opName, vpath string, follow bool, op func(rel string) error) error {
	rel, err := j.resolve(vpath, follow)
	if err != nil {
		return pathErr(opName, vpath, err)
	}
	if err := op(rel); err != nil {
		return pathErr(opName, vpath, unwrap(err))
	}
	return nil
}

func (j *jail) mkdir(vpath string, perm fs.FileMode) error {
	return j.do("mkdir", vpath, false, func(rel string) error { return j.root.Mkdir(rel, perm) })
}

func (j *jail) remove(vpath string) error {
	return j.do("remove", vpath, false, j.root.Remove)
}

func (j *jail) removeAll(vpath string) error {
	return j.do("remove", vpath, false, j.root.RemoveAll)
}

func (j *jail) chmod(vpath string, mode fs.FileMode) error {
	return j.do("chmod", vpath, true, func(rel string) error { return j.root.Chmod(rel, mode) })
}

func (j *jail) chown(vpath string, uid, gid int) error {
	return j.do("chown", vpath, true, func(rel string) error { return j.root.Chown(rel, uid, gid) })
}

func (j *jail) chtimes(vpath string, t time.Time) error {
	return j.do("touch", vpath, true, func(rel string) error { return j.root.Chtimes(rel, t, t) })
}

func (j *jail) readlink(vpath string) (string, error) {
	var target string
	err := j.do("readlink", vpath, false, func(rel string) (err error) {
		target, err = j.root.Readlink(rel)
		return err
	})
	return target, err
}

func (j *jail) symlink(target, vpath string) error {
	return j.do("symlink", vpath, false, func(rel string) error { return j.root.Symlink(target, rel) })
}

func (j *jail) link(oldv, newv string) error {
	oldRel, err := j.resolve(oldv, false)
	if err != nil {
		return pathErr("link", oldv, err)
	}
	return j.do("link", newv, false, func(rel string) error { return j.root.Link(oldRel, rel) })
}

func (j *jail) rename(oldv, newv string) error {
	oldRel, err := j.resolve(oldv, false)
	if err != nil {
		return pathErr("rename", oldv, err)
	}
	return j.do("rename", newv, false, func(rel string) error { return j.root.Rename(oldRel, rel) })
}

// realpath returns the canonical virtual path of vpath (readlink -f).
func (j *jail) realpath(vpath string) (string, error) {
	rel, err := j.resolve(vpath, true)
	if err != nil {
		return "", err
	}
	if rel == "." {
		return "/", nil
	}
	return "/" + rel, nil
}

// hostPath returns the real path of a virtual one, for the openssl
// process; symlinks are resolved inside the jail first.
func (j *jail) hostPath(vpath string) (string, error) {
	rel, err := j.resolve(vpath, true)
	if err != nil {
		return "", err
	}
	return filepath.Join(j.root.Name(), filepath.FromSlash(rel)), nil
}

// errnoError prints an errno the way strerror(3) does ("No such file or
// directory"), which is what the GNU tools and bash print.
type errnoError struct{ errno syscall.Errno }

func (e errnoError) Error() string {
	s := e.errno.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (e errnoError) Unwrap() error { return e.errno }

// unwrap reduces an os error to its errno, so messages name the virtual
// path only; an os.Root escape is reported as EACCES.
func unwrap(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") {
		return syscall.EACCES
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, fs.ErrExist):
		return syscall.EEXIST
	}
	return err
}

func pathErr(op, vpath string, err error) error {
	return &fs.PathError{Op: op, Path: vpath, Err: err}
}

// errText is the strerror text of err, without the operation and path.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errnoError{errno}.Error()
	}
	return err.Error()
}

// handlers are the interp hooks that keep the interpreter itself in the jail.
func (j *jail) openHandler(ctx context.Context, p string, flag int, perm fs.FileMode) (io.ReadWriteCloser, error) {
	hc := interp.HandlerCtx(ctx)
	f, err := j.open(abs(hc.Dir, p), flag, perm, hc.Stdin, hc.Stdout, hc.Stderr)
	if err != nil {
		// interp prints this error as is: make it read like bash's.
		return nil, &fs.PathError{Op: "bash:", Path: p, Err: errors.New(errText(err))}
	}
	return f, nil
}

func (j *jail) statHandler(ctx context.Context, p string, follow bool) (fs.FileInfo, error) {
	return j.statMode(abs(interp.HandlerCtx(ctx).Dir, p), follow)
}

func (j *jail) readDirHandler(ctx context.Context, p string) ([]fs.DirEntry, error) {
	return j.readDir(abs(interp.HandlerCtx(ctx).Dir, p))
}

// accessHandler answers test -r/-w/-x and cd's check as root would: read
// and write always, execute when any x bit is set or for directories.
func (j *jail) accessHandler(ctx context.Context, p string, mode interp.AccessMode) error {
	fi, err := j.stat(abs(interp.HandlerCtx(ctx).Dir, p))
	if err != nil {
		return err
	}
	if mode&interp.AccessExec != 0 && !fi.IsDir() && fi.Mode().Perm()&0o111 == 0 {
		return pathErr("access", p, syscall.EACCES)
	}
	return nil
}
