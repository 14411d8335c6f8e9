package sshconn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/smcfleet/smcfleet/internal/remote"
)

const (
	extPosixRename = "posix-rename@openssh.com"
	extHardlink    = "hardlink@openssh.com"
	extFsync       = "fsync@openssh.com"
)

// sftpClient returns the shared SFTP client, starting it on first use.
func (c *Client) sftpClient(ctx context.Context) (*sftp.Client, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	select {
	case <-c.closed:
		return nil, errClosed
	default:
	}
	if c.sftp != nil {
		return c.sftp, nil
	}
	type result struct {
		sc  *sftp.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		sc, err := sftp.NewClient(c.ssh)
		ch <- result{sc, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("start sftp (is the sftp subsystem enabled in sshd_config?): %w", r.err)
		}
		c.sessions.Add(1)
		c.sftpSessions.Add(1)
		c.sftp = r.sc
		return r.sc, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.sc != nil {
				r.sc.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

var errClosed = errors.New("connection closed")

// dropSFTP closes sc (aborting its in-flight requests) and forgets it, so
// the next call starts a new SFTP session on the same connection.
func (c *Client) dropSFTP(sc *sftp.Client) {
	c.sftpMu.Lock()
	if c.sftp == sc {
		c.sftp = nil
	}
	c.sftpMu.Unlock()
	sc.Close()
}

// withSFTP runs op with the shared SFTP client; if ctx ends first, the
// client is closed so a stalled transfer returns at once.
func (c *Client) withSFTP(ctx context.Context, what string, op func(sc *sftp.Client) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	sc, err := c.sftpClient(ctx)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", what, c.cfg.label(), err)
	}
	c.sftpOps.Add(1)
	stop := context.AfterFunc(ctx, func() { c.dropSFTP(sc) })
	err = op(sc)
	if !stop() {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("%s on %s: %w", what, c.cfg.label(), err)
	}
	return nil
}

// Stat describes path without following a final symlink.
func (c *Client) Stat(ctx context.Context, p string) (remote.FileInfo, error) {
	info := remote.FileInfo{Path: p}
	err := c.withSFTP(ctx, "stat "+p, func(sc *sftp.Client) error {
		fi, err := sc.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		info = fileInfo(p, fi)
		return nil
	})
	return info, err
}

func fileInfo(p string, fi fs.FileInfo) remote.FileInfo {
	info := remote.FileInfo{
		Path: p, Exists: true, IsDir: fi.IsDir(), Size: fi.Size(),
		Mode: fi.Mode().Perm(), ModTime: fi.ModTime(),
	}
	if st, ok := fi.Sys().(*sftp.FileStat); ok {
		info.UID, info.GID = int(st.UID), int(st.GID)
	}
	return info
}

// ReadFile reads path; a file larger than limit bytes is an error.
func (c *Client) ReadFile(ctx context.Context, p string, limit int64) ([]byte, error) {
	var data []byte
	err := c.withSFTP(ctx, "read "+p, func(sc *sftp.Client) error {
		f, err := sc.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
			return err
		}
		if int64(buf.Len()) > limit {
			return fmt.Errorf("file is larger than the %d-byte limit", limit)
		}
		data = buf.Bytes()
		return nil
	})
	return data, err
}

// Glob expands pattern (path.Match syntax) on the remote host, sorted.
func (c *Client) Glob(ctx context.Context, pattern string) ([]string, error) {
	var matches []string
	err := c.withSFTP(ctx, "glob "+pattern, func(sc *sftp.Client) error {
		m, err := sc.Glob(pattern)
		matches = m
		return err
	})
	slices.Sort(matches)
	return matches, err
}

// Remove deletes the file at path; a missing file is not an error.
func (c *Client) Remove(ctx context.Context, p string) error {
	return c.withSFTP(ctx, "remove "+p, func(sc *sftp.Client) error {
		err := sc.Remove(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	})
}

// Open opens path for streaming reads. Cancelling ctx aborts a stalled
// read by closing the SFTP client (a later call starts a new one).
func (c *Client) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	var r *remoteReader
	err := c.withSFTP(ctx, "open "+p, func(sc *sftp.Client) error {
		f, err := sc.Open(p)
		if err != nil {
			return err
		}
		r = &remoteReader{File: f, ctx: ctx}
		r.stop = context.AfterFunc(ctx, func() { c.dropSFTP(sc) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

type remoteReader struct {
	*sftp.File
	ctx  context.Context
	stop func() bool
}

func (r *remoteReader) Read(p []byte) (int, error) {
	n, err := r.File.Read(p)
	if err != nil && err != io.EOF && r.ctx.Err() != nil {
		return n, fmt.Errorf("read %s: %w", r.File.Name(), r.ctx.Err())
	}
	return n, err
}

func (r *remoteReader) Close() error {
	r.stop()
	err := r.File.Close()
	if r.ctx.Err() != nil {
		return nil // closed with the SFTP client already
	}
	return err
}

func tempName(p string) string {
	b := make([]byte, 6)
	rand.Read(b)
	dir, base := path.Split(p)
	return path.Join(dir, "."+base+".smcfleet-"+hex.EncodeToString(b)+".tmp")
}

func supports(sc *sftp.Client, ext string) bool {
	_, ok := sc.HasExtension(ext)
	return ok
}

func isUnsupported(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported
}

// removeTemp deletes a temp file after a failure. After a cancellation the
// shared SFTP client is gone, so it uses a fresh one in the background.
func (c *Client) removeTemp(ctx context.Context, sc *sftp.Client, tmp string) {
	if ctx.Err() == nil {
		sc.Remove(tmp)
		return
	}
	go func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.withSFTP(cctx, "remove temp file", func(sc *sftp.Client) error { return sc.Remove(tmp) })
	}()
}

// writeTemp creates a new temp file next to p with src's content, synced
// to disk when the server can.
func writeTemp(sc *sftp.Client, tmp string, src io.Reader) error {
	f, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	if _, err := f.ReadFrom(src); err != nil {
		f.Close()
		return fmt.Errorf("write temp file: %w", err)
	}
	// Without fsync a crash after the rename could leave an empty file;
	// servers lacking fsync@openssh.com get the best they can do.
	if supports(sc, extFsync) {
		if err := f.Sync(); err != nil && !isUnsupported(err) {
			f.Close()
			return fmt.Errorf("sync temp file: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close temp file: %w", err)
	}
	return nil
}

// WriteFile replaces p atomically with data: temp file in the same
// directory, sync, owner and mode, then posix-rename over p.
func (c *Client) WriteFile(ctx context.Context, p string, data []byte, opt remote.WriteOptions) error {
	return c.withSFTP(ctx, "write "+p, func(sc *sftp.Client) (err error) {
		if !supports(sc, extPosixRename) {
			return errors.New("the server lacks posix-rename@openssh.com, so the file cannot be replaced atomically (OpenSSH >= 4.8 has it)")
		}
		old, err := sc.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			old = nil
		case err != nil:
			return err
		case old.Mode()&fs.ModeSymlink != 0:
			return errors.New("is a symlink; refusing to replace the link with a file (write its target instead)")
		case old.IsDir():
			return errors.New("is a directory")
		}

		tmp := tempName(p)
		if err := writeTemp(sc, tmp, bytes.NewReader(data)); err != nil {
			c.removeTemp(ctx, sc, tmp)
			return err
		}
		defer func() {
			if err != nil {
				c.removeTemp(ctx, sc, tmp)
			}
		}()
		if err := c.applyOwner(sc, tmp, old, opt); err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		switch {
		case opt.Mode != nil:
			mode = *opt.Mode
		case old != nil:
			mode = old.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		}
		// After chown: chown clears setuid/setgid bits.
		if err := sc.Chmod(tmp, mode); err != nil {
			return fmt.Errorf("chmod temp file: %w", err)
		}
		if err := sc.PosixRename(tmp, p); err != nil {
			if isUnsupported(err) {
				return fmt.Errorf("the server refused posix-rename, so the file cannot be replaced atomically: %w", err)
			}
			return fmt.Errorf("rename temp file over target: %w", err)
		}
		removeLeftovers(sc, p)
		return nil
	})
}

// removeLeftovers deletes temp files that an earlier write of p left behind
// when its connection dropped mid-transfer (the original was never
// touched). Best effort: the write itself has succeeded.
func removeLeftovers(sc *sftp.Client, p string) {
	dir, base := path.Split(p)
	if dir == "" {
		dir = "."
	}
	entries, err := sc.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + ".smcfleet-"
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, prefix) && strings.HasSuffix(n, ".tmp") && e.Mode().IsRegular() {
			sc.Remove(path.Join(dir, n))
		}
	}
}

// applyOwner gives tmp the requested owner, or the replaced file's owner.
// Failing to preserve an owner without privilege is not an error (the
// file then belongs to the connecting user); failing an explicit request is.
func (c *Client) applyOwner(sc *sftp.Client, tmp string, old fs.FileInfo, opt remote.WriteOptions) error {
	if opt.UID == nil && opt.GID == nil && old == nil {
		return nil
	}
	cur, err := sc.Lstat(tmp)
	if err != nil {
		return fmt.Errorf("stat temp file: %w", err)
	}
	curInfo := fileInfo(tmp, cur)
	uid, gid := curInfo.UID, curInfo.GID
	if old != nil {
		oldInfo := fileInfo("", old)
		uid, gid = oldInfo.UID, oldInfo.GID
	}
	explicit := opt.UID != nil || opt.GID != nil
	if opt.UID != nil {
		uid = *opt.UID
	}
	if opt.GID != nil {
		gid = *opt.GID
	}
	if uid == curInfo.UID && gid == curInfo.GID {
		return nil
	}
	err = sc.Chown(tmp, uid, gid)
	if err != nil && (explicit || !errors.Is(err, fs.ErrPermission)) {
		return fmt.Errorf("chown temp file to %d:%d: %w", uid, gid, err)
	}
	return nil
}

// CopyNoClobber copies src to dst unless dst exists. The final step is a
// hard link, which fails if dst appeared meanwhile, so a concurrent writer
// is never overwritten.
func (c *Client) CopyNoClobber(ctx context.Context, src, dst string) (bool, error) {
	var created bool
	err := c.withSFTP(ctx, "copy "+src+" to "+dst, func(sc *sftp.Client) (err error) {
		if _, err := sc.Lstat(dst); err == nil {
			return nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		in, err := sc.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		srcInfo, err := in.Stat()
		if err != nil {
			return err
		}
		tmp := tempName(dst)
		if err := writeTemp(sc, tmp, in); err != nil {
			c.removeTemp(ctx, sc, tmp)
			return err
		}
		tmpGone := false // a plain rename consumes tmp
		defer func() {
			switch {
			case tmpGone:
			case err == nil:
				if rmErr := sc.Remove(tmp); rmErr != nil {
					err = fmt.Errorf("remove temp file: %w", rmErr)
				}
			default:
				c.removeTemp(ctx, sc, tmp)
			}
		}()
		if err := c.applyOwner(sc, tmp, srcInfo, remote.WriteOptions{}); err != nil {
			return err
		}
		if err := sc.Chmod(tmp, srcInfo.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return fmt.Errorf("chmod temp file: %w", err)
		}
		err = errUnsupported
		if supports(sc, extHardlink) {
			err = sc.Link(tmp, dst)
		}
		if errors.Is(err, errUnsupported) || isUnsupported(err) {
			// SSH_FXP_RENAME: OpenSSH implements it as link+unlink and
			// fails on an existing target.
			if err = sc.Rename(tmp, dst); err == nil {
				tmpGone = true
			}
		}
		if err == nil {
			created = true
			return nil
		}
		if _, statErr := sc.Lstat(dst); statErr == nil {
			return nil // lost a race to another writer: dst is theirs
		}
		return fmt.Errorf("link %s: %w", dst, err)
	})
	return created, err
}

var errUnsupported = errors.New("unsupported")

// MkdirAll creates a directory and its missing parents with mode (existing
// directories are left as they are).
func (c *Client) MkdirAll(ctx context.Context, p string, mode fs.FileMode) error {
	return c.withSFTP(ctx, "mkdir "+p, func(sc *sftp.Client) error {
		if fi, err := sc.Stat(p); err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s exists and is not a directory", p)
			}
			return nil
		}
		if err := sc.MkdirAll(p); err != nil {
			return err
		}
		return sc.Chmod(p, mode)
	})
}
