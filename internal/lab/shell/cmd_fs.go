package shell

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func init() {
	for name, fn := range map[string]command{
		"cat": cmdCat, "ls": cmdLs, "mkdir": cmdMkdir, "rmdir": cmdRmdir, "rm": cmdRm,
		"cp": cmdCp, "mv": cmdMv, "touch": cmdTouch, "chmod": cmdChmod, "chown": cmdChown,
		"stat": cmdStat, "ln": cmdLn, "readlink": cmdReadlink, "realpath": cmdRealpath,
		"find": cmdFind, "mktemp": cmdMktemp, "tee": cmdTee, "df": cmdDf,
		"basename": cmdBasename, "dirname": cmdDirname,
		internalPrefix + "pwd": cmdPwdP,
	} {
		commands[name] = fn
	}
}

// umask is applied to the modes of new files and directories.
const umask = 0o022

func cmdCat(c *cmdCtx, args []string) int {
	_, files, ok := c.parseFlags(args, "u", nil)
	if !ok {
		return 2
	}
	if len(files) == 0 {
		files = []string{"-"}
	}
	status := 0
	for _, f := range files {
		r, err := c.open(f, true)
		if err != nil {
			c.fileErr("", f, err)
			status = 1
			continue
		}
		_, err = io.Copy(c.stdout, r)
		r.Close()
		if err != nil {
			c.fileErr("", f, err)
			status = 1
		}
	}
	return status
}

func cmdMkdir(c *cmdCtx, args []string) int {
	o, dirs, ok := c.parseFlags(args, "pm:v", map[string]byte{"parents": 'p', "mode": 'm', "verbose": 'v'})
	if !ok {
		return 2
	}
	if len(dirs) == 0 {
		return c.missing("operand")
	}
	mode := fs.FileMode(0o777 &^ umask)
	explicit := false
	if m := o.last('m', ""); m != "" {
		v, err := parseMode(m, 0o777&^umask, true)
		if err != nil {
			c.errorf("invalid mode '%s'", m)
			return 1
		}
		mode, explicit = v, true
	}
	status := 0
	for _, d := range dirs {
		vp := c.abs(d)
		if o.has('p') {
			if err := c.mkdirAll(vp, mode); err != nil {
				c.fileErr("cannot create directory", d, err)
				status = 1
			}
			continue
		}
		if err := c.j.mkdir(vp, mode); err != nil {
			c.fileErr("cannot create directory", d, err)
			status = 1
			continue
		}
		if explicit {
			c.j.chmod(vp, mode)
		}
	}
	return status
}

// mkdirAll creates vp and its parents; the last one gets mode.
func (c *cmdCtx) mkdirAll(vp string, mode fs.FileMode) error {
	fi, err := c.j.stat(vp)
	if err == nil {
		if fi.IsDir() {
			return nil
		}
		return pathErr("mkdir", vp, syscall.EEXIST)
	}
	if parent := path.Dir(path.Clean(vp)); parent != path.Clean(vp) {
		if err := c.mkdirAll(parent, 0o755); err != nil {
			return err
		}
	}
	if err := c.j.mkdir(vp, mode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return c.j.chmod(vp, mode)
}

func cmdRmdir(c *cmdCtx, args []string) int {
	_, dirs, ok := c.parseFlags(args, "p", nil)
	if !ok {
		return 2
	}
	status := 0
	for _, d := range dirs {
		fi, err := c.j.lstat(c.abs(d))
		if err == nil && !fi.IsDir() {
			err = syscall.ENOTDIR
		}
		if err == nil {
			err = c.j.remove(c.abs(d))
		}
		if err != nil {
			c.fileErr("failed to remove", d, err)
			status = 1
		}
	}
	return status
}

func cmdRm(c *cmdCtx, args []string) int {
	o, files, ok := c.parseFlags(args, "frRvdi", map[string]byte{"force": 'f', "recursive": 'r', "verbose": 'v', "dir": 'd'})
	if !ok {
		return 2
	}
	force, recursive := o.has('f'), o.has('r') || o.has('R')
	if len(files) == 0 && !force {
		return c.missing("operand")
	}
	status := 0
	for _, f := range files {
		vp := c.abs(f)
		if base := path.Base(f); base == "." || base == ".." {
			c.errorf("refusing to remove '.' or '..' directory: skipping '%s'", f)
			status = 1
			continue
		}
		if path.Clean(vp) == "/" {
			c.errorf("it is dangerous to operate recursively on '/'")
			status = 1
			continue
		}
		fi, err := c.j.lstat(vp)
		if err != nil {
			if !force || !errors.Is(err, fs.ErrNotExist) {
				c.fileErr("cannot remove", f, err)
				status = 1
			}
			continue
		}
		if fi.IsDir() && !recursive {
			if o.has('d') {
				err = c.j.remove(vp)
			} else {
				err = syscall.EISDIR
			}
		} else if fi.IsDir() {
			err = c.j.removeAll(vp)
		} else {
			err = c.j.remove(vp)
		}
		if err != nil {
			c.fileErr("cannot remove", f, err)
			status = 1
		} else if o.has('v') {
			fmt.Fprintf(c.stdout, "removed '%s'\n", f)
		}
	}
	return status
}

// target returns where src goes for cp/mv/ln: into dst if it is a
// directory, else dst itself.
func (c *cmdCtx) target(src, dst string, dstIsDir bool) string {
	if dstIsDir {
		return strings.TrimSuffix(dst, "/") + "/" + path.Base(strings.TrimSuffix(src, "/"))
	}
	return dst
}

// splitTarget checks the operands of cp/mv: several sources need a
// directory as the last operand.
func (c *cmdCtx) splitTarget(operands []string, noTargetDir bool) (srcs []string, dst string, dstIsDir bool, ok bool) {
	if len(operands) == 0 {
		c.missing("file operand")
		return nil, "", false, false
	}
	if len(operands) == 1 {
		c.usage("missing destination file operand after '%s'", operands[0])
		return nil, "", false, false
	}
	srcs, dst = operands[:len(operands)-1], operands[len(operands)-1]
	if !noTargetDir {
		if fi, err := c.j.stat(c.abs(dst)); err == nil && fi.IsDir() {
			dstIsDir = true
		}
	}
	if len(srcs) > 1 && !dstIsDir {
		c.errorf("target '%s' is not a directory", dst)
		return nil, "", false, false
	}
	return srcs, dst, dstIsDir, true
}

func cmdCp(c *cmdCtx, args []string) int {
	o, operands, ok := c.parseFlags(args, "pfrRaTvn", map[string]byte{
		"preserve": 'p', "force": 'f', "recursive": 'r', "archive": 'a',
		"no-target-directory": 'T', "verbose": 'v', "no-clobber": 'n',
	})
	if !ok {
		return 2
	}
	srcs, dst, dstIsDir, ok := c.splitTarget(operands, o.has('T'))
	if !ok {
		return 1
	}
	preserve := o.has('p') || o.has('a')
	recursive := o.has('r') || o.has('R') || o.has('a')
	status := 0
	for _, src := range srcs {
		to := c.target(src, dst, dstIsDir)
		fi, err := c.j.stat(c.abs(src))
		if err != nil {
			c.fileErr("cannot stat", src, err)
			status = 1
			continue
		}
		if fi.IsDir() && !recursive {
			c.errorf("-r not specified; omitting directory '%s'", src)
			status = 1
			continue
		}
		if o.has('n') {
			if _, err := c.j.lstat(c.abs(to)); err == nil {
				continue
			}
		}
		if err := c.copyTree(c.abs(src), c.abs(to), preserve); err != nil {
			c.errorf("%s", cpErr(err, src, to))
			status = 1
		} else if o.has('v') {
			fmt.Fprintf(c.stdout, "'%s' -> '%s'\n", src, to)
		}
	}
	return status
}

// cpErr renders a copy error the way cp does, naming the failing path.
func cpErr(err error, src, to string) string {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "create" {
		return fmt.Sprintf("cannot create regular file '%s': %s", to, errText(err))
	}
	return fmt.Sprintf("cannot open '%s' for reading: %s", src, errText(err))
}

// copyTree copies a file or a directory tree inside the jail.
func (c *cmdCtx) copyTree(from, to string, preserve bool) error {
	fi, err := c.j.stat(from)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		if err := c.j.mkdir(to, fi.Mode().Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
			return &fs.PathError{Op: "create", Path: to, Err: errors.Unwrap(err)}
		}
		ents, err := c.j.readDir(from)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := c.copyTree(from+"/"+e.Name(), to+"/"+e.Name(), preserve); err != nil {
				return err
			}
		}
	} else if err := c.copyFile(from, to, fi.Mode().Perm()); err != nil {
		return err
	}
	if preserve {
		c.j.chmod(to, fi.Mode().Perm())
		c.j.chtimes(to, fi.ModTime())
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			c.j.chown(to, int(st.Uid), int(st.Gid))
		}
	}
	return nil
}

func (c *cmdCtx) copyFile(from, to string, perm fs.FileMode) error {
	in, err := c.j.open(from, os.O_RDONLY, 0, c.stdin, c.stdout, c.stderr)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := c.j.open(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm&^umask, c.stdin, c.stdout, c.stderr)
	if err != nil {
		return &fs.PathError{Op: "create", Path: to, Err: errors.Unwrap(err)}
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &fs.PathError{Op: "create", Path: to, Err: unwrap(err)}
	}
	return nil
}

func cmdMv(c *cmdCtx, args []string) int {
	o, operands, ok := c.parseFlags(args, "fTvn", map[string]byte{"force": 'f', "no-target-directory": 'T', "verbose": 'v', "no-clobber": 'n'})
	if !ok {
		return 2
	}
	srcs, dst, dstIsDir, ok := c.splitTarget(operands, o.has('T'))
	if !ok {
		return 1
	}
	status := 0
	for _, src := range srcs {
		to := c.target(src, dst, dstIsDir)
		if _, err := c.j.lstat(c.abs(src)); err != nil {
			c.fileErr("cannot stat", src, err)
			status = 1
			continue
		}
		if o.has('n') {
			if _, err := c.j.lstat(c.abs(to)); err == nil {
				continue
			}
		}
		if err := c.j.rename(c.abs(src), c.abs(to)); err != nil {
			c.errorf("cannot move '%s' to '%s': %s", src, to, errText(err))
			status = 1
		} else if o.has('v') {
			fmt.Fprintf(c.stdout, "renamed '%s' -> '%s'\n", src, to)
		}
	}
	return status
}

func cmdTouch(c *cmdCtx, args []string) int {
	o, files, ok := c.parseFlags(args, "cmad:", map[string]byte{"no-create": 'c', "date": 'd'})
	if !ok {
		return 2
	}
	if len(files) == 0 {
		return c.missing("file operand")
	}
	t := time.Now()
	if d := o.last('d', ""); d != "" {
		var err error
		if t, err = parseDate(d); err != nil {
			c.errorf("invalid date format '%s'", d)
			return 1
		}
	}
	status := 0
	for _, f := range files {
		vp := c.abs(f)
		if _, err := c.j.stat(vp); errors.Is(err, fs.ErrNotExist) {
			if o.has('c') {
				continue
			}
			fh, err := c.j.open(vp, os.O_WRONLY|os.O_CREATE, 0o666&^umask, c.stdin, c.stdout, c.stderr)
			if err != nil {
				c.fileErr("cannot touch", f, err)
				status = 1
				continue
			}
			fh.Close()
		}
		if err := c.j.chtimes(vp, t); err != nil {
			c.fileErr("setting times of", f, err)
			status = 1
		}
	}
	return status
}

// parseDate accepts the date forms scripts pass to touch -d and date -d.
func parseDate(s string) (time.Time, error) {
	if strings.HasPrefix(s, "@") {
		n, err := strconv.ParseInt(s[1:], 10, 64)
		return time.Unix(n, 0), err
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02", time.RFC1123Z, time.UnixDate} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("invalid date")
}

// parseMode parses an octal mode or a symbolic one (u+x,go-w,a=r) applied
// to cur. dir tells whether X applies.
func parseMode(s string, cur fs.FileMode, dir bool) (fs.FileMode, error) {
	if n, err := strconv.ParseUint(s, 8, 32); err == nil {
		if n > 0o7777 {
			return 0, errors.New("invalid mode")
		}
		return fs.FileMode(n & 0o777), nil
	}
	mode := cur.Perm()
	for _, clause := range strings.Split(s, ",") {
		i := strings.IndexAny(clause, "+-=")
		if i < 0 {
			return 0, errors.New("invalid mode")
		}
		who, rest := clause[:i], clause[i:]
		var mask fs.FileMode
		for _, w := range who {
			switch w {
			case 'u':
				mask |= 0o700
			case 'g':
				mask |= 0o070
			case 'o':
				mask |= 0o007
			case 'a':
				mask |= 0o777
			default:
				return 0, errors.New("invalid mode")
			}
		}
		if who == "" {
			mask = 0o777 &^ umask
		}
		for len(rest) > 0 {
			op := rest[0]
			j := 1
			for j < len(rest) && !strings.ContainsRune("+-=", rune(rest[j])) {
				j++
			}
			var bits fs.FileMode
			for _, p := range rest[1:j] {
				switch p {
				case 'r':
					bits |= 0o444
				case 'w':
					bits |= 0o222
				case 'x':
					bits |= 0o111
				case 'X':
					if dir || mode&0o111 != 0 {
						bits |= 0o111
					}
				default:
					return 0, errors.New("invalid mode")
				}
			}
			bits &= mask
			switch op {
			case '+':
				mode |= bits
			case '-':
				mode &^= bits
			case '=':
				m := mask
				if who == "" {
					m = 0o777
				}
				mode = mode&^m | bits
			}
			rest = rest[j:]
		}
	}
	return mode, nil
}

func cmdChmod(c *cmdCtx, args []string) int {
	// Symbolic modes such as -w look like options: take the first
	// operand-looking argument as the mode.
	var recursive bool
	var rest []string
	for i, a := range args {
		if a == "-R" || a == "--recursive" {
			recursive = true
			continue
		}
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "--") {
			c.usage("unrecognized option '%s'", a)
			return 2
		}
		rest = append(rest, a)
	}
	if len(rest) < 2 {
		if len(rest) == 0 {
			return c.missing("operand")
		}
		c.usage("missing operand after '%s'", rest[0])
		return 2
	}
	spec, files := rest[0], rest[1:]
	if _, err := parseMode(spec, 0, false); err != nil {
		c.errorf("invalid mode: '%s'", spec)
		return 1
	}
	status := 0
	var apply func(vp, shown string)
	apply = func(vp, shown string) {
		fi, err := c.j.stat(vp)
		if err != nil {
			c.fileErr("cannot access", shown, err)
			status = 1
			return
		}
		m, _ := parseMode(spec, fi.Mode(), fi.IsDir())
		if err := c.j.chmod(vp, m); err != nil {
			c.fileErr("changing permissions of", shown, err)
			status = 1
		}
		if recursive && fi.IsDir() {
			ents, _ := c.j.readDir(vp)
			for _, e := range ents {
				if e.Type()&fs.ModeSymlink == 0 {
					apply(vp+"/"+e.Name(), shown+"/"+e.Name())
				}
			}
		}
	}
	for _, f := range files {
		apply(c.abs(f), f)
	}
	return status
}

func cmdChown(c *cmdCtx, args []string) int {
	o, rest, ok := c.parseFlags(args, "Rh", map[string]byte{"recursive": 'R', "no-dereference": 'h'})
	if !ok {
		return 2
	}
	if len(rest) < 2 {
		return c.missing("operand")
	}
	spec, files := rest[0], rest[1:]
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	uid, gid := -1, -1
	if userPart != "" {
		id, ok := c.lookupID(userPart, "passwd")
		if !ok {
			c.errorf("invalid user: '%s'", spec)
			return 1
		}
		uid = id
	}
	if hasGroup && groupPart != "" {
		id, ok := c.lookupID(groupPart, "group")
		if !ok {
			c.errorf("invalid group: '%s'", spec)
			return 1
		}
		gid = id
	}
	status := 0
	var apply func(vp, shown string)
	apply = func(vp, shown string) {
		fi, err := c.j.lstat(vp)
		if err != nil {
			c.fileErr("cannot access", shown, err)
			status = 1
			return
		}
		// Ownership is recorded where the test process may set it; an
		// unprivileged lab accepts the change silently.
		if err := c.j.chown(vp, uid, gid); err != nil && !errors.Is(err, fs.ErrPermission) {
			c.fileErr("changing ownership of", shown, err)
			status = 1
		}
		if o.has('R') && fi.IsDir() {
			ents, _ := c.j.readDir(vp)
			for _, e := range ents {
				apply(vp+"/"+e.Name(), shown+"/"+e.Name())
			}
		}
	}
	for _, f := range files {
		apply(c.abs(f), f)
	}
	return status
}

func cmdLn(c *cmdCtx, args []string) int {
	o, operands, ok := c.parseFlags(args, "sfnTv", map[string]byte{"symbolic": 's', "force": 'f', "no-dereference": 'n', "no-target-directory": 'T'})
	if !ok {
		return 2
	}
	if len(operands) == 0 {
		return c.missing("file operand")
	}
	if len(operands) == 1 {
		operands = append(operands, path.Base(operands[0]))
	}
	srcs, dst := operands[:len(operands)-1], operands[len(operands)-1]
	dstIsDir := false
	if !o.has('T') {
		var fi fs.FileInfo
		var err error
		if o.has('n') {
			fi, err = c.j.lstat(c.abs(dst))
		} else {
			fi, err = c.j.stat(c.abs(dst))
		}
		dstIsDir = err == nil && fi.IsDir()
	}
	if len(srcs) > 1 && !dstIsDir {
		c.errorf("target '%s' is not a directory", dst)
		return 1
	}
	status := 0
	for _, src := range srcs {
		to := c.abs(c.target(src, dst, dstIsDir))
		if o.has('f') {
			if fi, err := c.j.lstat(to); err == nil && !fi.IsDir() {
				c.j.remove(to)
			}
		}
		var err error
		if o.has('s') {
			err = c.j.symlink(src, to)
		} else {
			err = c.j.link(c.abs(src), to)
		}
		if err != nil {
			kind := "hard link"
			if o.has('s') {
				kind = "symbolic link"
			}
			c.errorf("failed to create %s '%s': %s", kind, c.target(src, dst, dstIsDir), errText(err))
			status = 1
		}
	}
	return status
}

func cmdReadlink(c *cmdCtx, args []string) int {
	o, files, ok := c.parseFlags(args, "femnqsvz", map[string]byte{"canonicalize": 'f', "canonicalize-existing": 'e', "canonicalize-missing": 'm', "no-newline": 'n', "quiet": 'q', "silent": 's'})
	if !ok {
		return 2
	}
	if len(files) == 0 {
		return c.missing("operand")
	}
	status := 0
	for _, f := range files {
		vp := c.abs(f)
		var out string
		var err error
		switch {
		case o.has('f'), o.has('e'), o.has('m'):
			out, err = c.canonical(vp, o.has('e'), o.has('m'))
		default:
			out, err = c.j.readlink(vp)
		}
		if err != nil {
			if o.has('v') {
				c.errorf("%s: %s", f, errText(err))
			}
			status = 1
			continue
		}
		fmt.Fprint(c.stdout, out)
		if !o.has('n') {
			fmt.Fprintln(c.stdout)
		}
	}
	return status
}

// canonical is readlink -f/-e/-m: every component resolved in the jail;
// -f lets the last component be missing, -m any of them.
func (c *cmdCtx) canonical(vp string, existing, missing bool) (string, error) {
	real, err := c.j.realpath(vp)
	if err != nil {
		return "", err
	}
	if missing {
		return real, nil
	}
	_, err = c.j.stat(real)
	if err == nil {
		return real, nil
	}
	if existing {
		return "", err
	}
	if fi, perr := c.j.stat(path.Dir(real)); perr != nil || !fi.IsDir() {
		return "", err
	}
	return real, nil
}

func cmdRealpath(c *cmdCtx, args []string) int {
	o, files, ok := c.parseFlags(args, "emq", map[string]byte{"canonicalize-existing": 'e', "canonicalize-missing": 'm', "quiet": 'q'})
	if !ok {
		return 2
	}
	if len(files) == 0 {
		return c.missing("operand")
	}
	status := 0
	for _, f := range files {
		out, err := c.canonical(c.abs(f), !o.has('m'), o.has('m'))
		if err != nil {
			if !o.has('q') {
				c.errorf("%s: %s", f, errText(err))
			}
			status = 1
			continue
		}
		fmt.Fprintln(c.stdout, out)
	}
	return status
}

func cmdPwdP(c *cmdCtx, args []string) int {
	p, err := c.j.realpath(c.dir)
	if err != nil {
		c.errorf("%s", errText(err))
		return 1
	}
	fmt.Fprintln(c.stdout, p)
	return 0
}

func cmdTee(c *cmdCtx, args []string) int {
	o, files, ok := c.parseFlags(args, "ai", map[string]byte{"append": 'a'})
	if !ok {
		return 2
	}
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if o.has('a') {
		flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	writers := []io.Writer{c.stdout}
	status := 0
	for _, f := range files {
		w, err := c.j.open(c.abs(f), flag, 0o666&^umask, c.stdin, c.stdout, c.stderr)
		if err != nil {
			c.fileErr("", f, err)
			status = 1
			continue
		}
		defer w.Close()
		writers = append(writers, w)
	}
	if _, err := io.Copy(io.MultiWriter(writers...), c.stdin); err != nil {
		c.errorf("%s", errText(err))
		status = 1
	}
	return status
}

func cmdMktemp(c *cmdCtx, args []string) int {
	o, rest, ok := c.parseFlags(args, "dp:tqu", map[string]byte{"directory": 'd', "tmpdir": 'p', "quiet": 'q', "dry-run": 'u'})
	if !ok {
		return 2
	}
	if len(rest) > 1 {
		c.errorf("too many templates")
		return 1
	}
	template := "tmp.XXXXXXXXXX"
	dir := "/tmp"
	if len(rest) == 1 {
		template = rest[0]
		if !o.has('p') && !o.has('t') {
			dir = ""
		}
	}
	if p := o.last('p', ""); p != "" {
		dir = p
	}
	n := len(template) - len(strings.TrimRight(template, "X"))
	if n < 3 {
		c.errorf("too few X's in template '%s'", template)
		return 1
	}
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for try := 0; try < 100; try++ {
		b := make([]byte, n)
		rand.Read(b)
		for i := range b {
			b[i] = letters[int(b[i])%len(letters)]
		}
		name := template[:len(template)-n] + string(b)
		if dir != "" {
			name = strings.TrimSuffix(dir, "/") + "/" + name
		}
		vp := c.abs(name)
		var err error
		if o.has('d') {
			err = c.j.mkdir(vp, 0o700)
		} else {
			var f io.ReadWriteCloser
			f, err = c.j.open(vp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600, c.stdin, c.stdout, c.stderr)
			if err == nil {
				f.Close()
			}
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			if !o.has('q') {
				kind := "file"
				if o.has('d') {
					kind = "directory"
				}
				c.errorf("failed to create %s via template '%s': %s", kind, name[:len(name)-n]+strings.Repeat("X", n), errText(err))
			}
			return 1
		}
		fmt.Fprintln(c.stdout, name)
		return 0
	}
	c.errorf("failed to create file via template '%s'", template)
	return 1
}

func cmdDf(c *cmdCtx, args []string) int {
	o, _, ok := c.parseFlags(args, "hPTkl", map[string]byte{"human-readable": 'h', "portability": 'P', "print-type": 'T'})
	if !ok {
		return 2
	}
	type row struct {
		fs         string
		size, used int64 // KiB
		mount      string
	}
	rows := []row{
		{"/dev/mapper/vg-root", 52403200, 14511412, "/"},
		{"tmpfs", 16384000, 2048, "/dev/shm"},
		{"/dev/sda1", 1038336, 241356, "/boot"},
		{"/dev/mapper/vg-lancope", 471613440, 120833024, "/lancope"},
	}
	human := func(k int64) string {
		v := float64(k) * 1024
		for _, u := range []string{"", "K", "M", "G", "T"} {
			if v < 1024 {
				if u == "" {
					return fmt.Sprintf("%.0f", v)
				}
				if v < 10 {
					return fmt.Sprintf("%.1f%s", v, u)
				}
				return fmt.Sprintf("%.0f%s", v, u)
			}
			v /= 1024
		}
		return fmt.Sprintf("%.0fP", v)
	}
	if o.has('h') {
		fmt.Fprintf(c.stdout, "%-24s %5s %5s %5s %4s %s\n", "Filesystem", "Size", "Used", "Avail", "Use%", "Mounted on")
	} else {
		fmt.Fprintf(c.stdout, "%-24s %10s %10s %10s %4s %s\n", "Filesystem", "1K-blocks", "Used", "Available", "Use%", "Mounted on")
	}
	for _, r := range rows {
		pct := fmt.Sprintf("%d%%", (r.used*100+r.size-1)/r.size)
		if o.has('h') {
			fmt.Fprintf(c.stdout, "%-24s %5s %5s %5s %4s %s\n", r.fs, human(r.size), human(r.used), human(r.size-r.used), pct, r.mount)
		} else {
			fmt.Fprintf(c.stdout, "%-24s %10d %10d %10d %4s %s\n", r.fs, r.size, r.used, r.size-r.used, pct, r.mount)
		}
	}
	return 0
}

func cmdBasename(c *cmdCtx, args []string) int {
	o, rest, ok := c.parseFlags(args, "as:z", map[string]byte{"multiple": 'a', "suffix": 's'})
	if !ok {
		return 2
	}
	if len(rest) == 0 {
		return c.missing("operand")
	}
	suffix := o.last('s', "")
	if !o.has('a') && !o.has('s') && len(rest) == 2 {
		rest, suffix = rest[:1], rest[1]
	}
	for _, p := range rest {
		b := path.Base(p)
		if suffix != "" && b != suffix {
			b = strings.TrimSuffix(b, suffix)
		}
		fmt.Fprintln(c.stdout, b)
	}
	return 0
}

func cmdDirname(c *cmdCtx, args []string) int {
	_, rest, ok := c.parseFlags(args, "z", nil)
	if !ok {
		return 2
	}
	if len(rest) == 0 {
		return c.missing("operand")
	}
	for _, p := range rest {
		fmt.Fprintln(c.stdout, path.Dir(p))
	}
	return 0
}

// modeString renders a mode as ls -l does ("drwxr-xr-x").
func modeString(m fs.FileMode) string {
	var b [10]byte
	switch {
	case m.IsDir():
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	default:
		b[0] = '-'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if m&(1<<uint(8-i)) != 0 {
			b[i+1] = rwx[i]
		} else {
			b[i+1] = '-'
		}
	}
	if m&fs.ModeSetuid != 0 {
		b[3] = map[bool]byte{true: 's', false: 'S'}[b[3] == 'x']
	}
	if m&fs.ModeSetgid != 0 {
		b[6] = map[bool]byte{true: 's', false: 'S'}[b[6] == 'x']
	}
	if m&fs.ModeSticky != 0 {
		b[9] = map[bool]byte{true: 't', false: 'T'}[b[9] == 'x']
	}
	return string(b[:])
}

// octalMode is the chmod number of a mode, special bits included.
func octalMode(m fs.FileMode) uint64 {
	n := uint64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return n
}

// ownerIDs returns a file's uid and gid (0 when unknown).
func ownerIDs(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return 0, 0
}

func nlink(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

func cmdLs(c *cmdCtx, args []string) int {
	o, operands, ok := c.parseFlags(args, "laA1tdrRSFhn", map[string]byte{"all": 'a', "almost-all": 'A', "directory": 'd', "reverse": 'r', "recursive": 'R', "human-readable": 'h', "numeric-uid-gid": 'n'})
	if !ok {
		return 2
	}
	long := o.has('l') || o.has('n')
	type entry struct {
		name string
		fi   fs.FileInfo
		vp   string
	}
	sortEntries := func(es []entry) {
		slices.SortStableFunc(es, func(a, b entry) int {
			switch {
			case o.has('t') && !a.fi.ModTime().Equal(b.fi.ModTime()):
				return b.fi.ModTime().Compare(a.fi.ModTime())
			case o.has('S') && a.fi.Size() != b.fi.Size():
				if a.fi.Size() > b.fi.Size() {
					return -1
				}
				return 1
			}
			return strings.Compare(a.name, b.name)
		})
		if o.has('r') {
			slices.Reverse(es)
		}
	}
	print := func(es []entry, total bool) {
		if long && total {
			var blocks int64
			for _, e := range es {
				if st, ok := e.fi.Sys().(*syscall.Stat_t); ok {
					blocks += st.Blocks / 2
				}
			}
			fmt.Fprintf(c.stdout, "total %d\n", blocks)
		}
		for _, e := range es {
			name := e.name
			if o.has('F') {
				switch {
				case e.fi.IsDir():
					name += "/"
				case e.fi.Mode()&fs.ModeSymlink != 0:
					name += "@"
				case e.fi.Mode()&0o111 != 0:
					name += "*"
				}
			}
			if !long {
				fmt.Fprintln(c.stdout, name)
				continue
			}
			uid, gid := ownerIDs(e.fi)
			user, group := c.userName(uid), c.groupName(gid)
			if o.has('n') {
				user, group = strconv.Itoa(uid), strconv.Itoa(gid)
			}
			size := strconv.FormatInt(e.fi.Size(), 10)
			mt := e.fi.ModTime()
			when := mt.Format("Jan _2 15:04")
			if time.Since(mt) > 182*24*time.Hour || mt.After(time.Now().Add(time.Hour)) {
				when = mt.Format("Jan _2  2006")
			}
			if e.fi.Mode()&fs.ModeSymlink != 0 {
				if t, err := c.j.readlink(e.vp); err == nil {
					name += " -> " + t
				}
			}
			fmt.Fprintf(c.stdout, "%s %d %s %s %s %s %s\n", modeString(e.fi.Mode()), nlink(e.fi), user, group, size, when, name)
		}
	}
	listDir := func(vp string) ([]entry, error) {
		ents, err := c.j.readDir(vp)
		if err != nil {
			return nil, err
		}
		var es []entry
		if o.has('a') {
			for _, dot := range []string{".", ".."} {
				if fi, err := c.j.stat(vp + "/" + dot); err == nil {
					es = append(es, entry{dot, fi, vp + "/" + dot})
				}
			}
		}
		for _, d := range ents {
			if strings.HasPrefix(d.Name(), ".") && !o.has('a') && !o.has('A') {
				continue
			}
			fi, err := c.j.lstat(vp + "/" + d.Name())
			if err != nil {
				continue
			}
			es = append(es, entry{d.Name(), fi, vp + "/" + d.Name()})
		}
		sortEntries(es)
		return es, nil
	}

	if len(operands) == 0 {
		operands = []string{"."}
	}
	status := 0
	var files, dirs []entry
	for _, p := range operands {
		vp := c.abs(p)
		fi, err := c.j.lstat(vp)
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 && !o.has('d') {
			// ls follows a symlink operand, except ls -l without a
			// trailing slash, which shows the link itself.
			if tfi, terr := c.j.stat(vp); terr == nil && (!long || strings.HasSuffix(p, "/")) {
				fi = tfi
			}
		}
		if err != nil {
			c.errorf("cannot access '%s': %s", p, errText(err))
			status = 2
			continue
		}
		if fi.IsDir() && !o.has('d') {
			dirs = append(dirs, entry{p, fi, vp})
		} else {
			files = append(files, entry{p, fi, vp})
		}
	}
	sortEntries(files)
	print(files, false)
	slices.SortStableFunc(dirs, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	var walk func(d entry, header bool, first bool)
	walk = func(d entry, header bool, first bool) {
		es, err := listDir(d.vp)
		if !first || len(files) > 0 {
			fmt.Fprintln(c.stdout)
		}
		if header {
			fmt.Fprintf(c.stdout, "%s:\n", d.name)
		}
		if err != nil {
			c.errorf("cannot open directory '%s': %s", d.name, errText(err))
			status = 2
			return
		}
		print(es, true)
		if o.has('R') {
			for _, e := range es {
				if e.fi.IsDir() && e.name != "." && e.name != ".." {
					walk(entry{strings.TrimSuffix(d.name, "/") + "/" + e.name, e.fi, e.vp}, true, false)
				}
			}
		}
	}
	header := len(operands) > 1 || o.has('R')
	for i, d := range dirs {
		walk(d, header, i == 0)
	}
	return status
}

func cmdStat(c *cmdCtx, args []string) int {
	o, files, ok := c.parseFlags(args, "c:Lt", map[string]byte{"format": 'c', "printf": 'p', "dereference": 'L', "terse": 't'})
	if !ok {
		return 2
	}
	if len(files) == 0 {
		return c.missing("operand")
	}
	format, nl := o.last('c', ""), "\n"
	if p := o.last('p', ""); p != "" {
		format, nl = unescape(p), ""
	}
	status := 0
	for _, f := range files {
		vp := c.abs(f)
		var fi fs.FileInfo
		var err error
		if o.has('L') {
			fi, err = c.j.stat(vp)
		} else {
			fi, err = c.j.lstat(vp)
		}
		if err != nil {
			c.errorf("cannot statx '%s': %s", f, errText(err))
			status = 1
			continue
		}
		if format == "" {
			c.statDefault(f, vp, fi)
			continue
		}
		fmt.Fprint(c.stdout, c.statFormat(format, f, vp, fi)+nl)
	}
	return status
}

func fileType(fi fs.FileInfo) string {
	m := fi.Mode()
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeCharDevice != 0:
		return "character special file"
	case fi.Size() == 0:
		return "regular empty file"
	}
	return "regular file"
}

func statTime(t time.Time) string { return t.Format("2006-01-02 15:04:05.000000000 -0700") }

func (c *cmdCtx) statFormat(format, name, vp string, fi fs.FileInfo) string {
	uid, gid := ownerIDs(fi)
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 == len(format) {
			b.WriteByte(format[i])
			continue
		}
		i++
		switch format[i] {
		case 'a':
			b.WriteString(strconv.FormatUint(octalMode(fi.Mode()), 8))
		case 'A':
			b.WriteString(modeString(fi.Mode()))
		case 's':
			b.WriteString(strconv.FormatInt(fi.Size(), 10))
		case 'U':
			b.WriteString(c.userName(uid))
		case 'G':
			b.WriteString(c.groupName(gid))
		case 'u':
			b.WriteString(strconv.Itoa(uid))
		case 'g':
			b.WriteString(strconv.Itoa(gid))
		case 'Y':
			b.WriteString(strconv.FormatInt(fi.ModTime().Unix(), 10))
		case 'y':
			b.WriteString(statTime(fi.ModTime()))
		case 'n':
			b.WriteString(name)
		case 'N':
			b.WriteString("'" + name + "'")
			if fi.Mode()&fs.ModeSymlink != 0 {
				if t, err := c.j.readlink(vp); err == nil {
					b.WriteString(" -> '" + t + "'")
				}
			}
		case 'F':
			b.WriteString(fileType(fi))
		case 'h':
			b.WriteString(strconv.FormatUint(nlink(fi), 10))
		case 'i':
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				b.WriteString(strconv.FormatUint(st.Ino, 10))
			}
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

func (c *cmdCtx) statDefault(name, vp string, fi fs.FileInfo) {
	uid, gid := ownerIDs(fi)
	var ino uint64
	var blocks int64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino, blocks = st.Ino, st.Blocks
	}
	shown := c.statFormat("%N", name, vp, fi)
	fmt.Fprintf(c.stdout, "  File: %s\n", shown)
	fmt.Fprintf(c.stdout, "  Size: %-15d Blocks: %-10d IO Block: 4096   %s\n", fi.Size(), blocks, fileType(fi))
	fmt.Fprintf(c.stdout, "Device: 803h/2051d\tInode: %-11d Links: %d\n", ino, nlink(fi))
	fmt.Fprintf(c.stdout, "Access: (%04o/%s)  Uid: (%5d/%8s)   Gid: (%5d/%8s)\n", fi.Mode().Perm(), modeString(fi.Mode()), uid, c.userName(uid), gid, c.groupName(gid))
	t := statTime(fi.ModTime())
	fmt.Fprintf(c.stdout, "Access: %s\nModify: %s\nChange: %s\n Birth: -\n", t, t, t)
}

func cmdFind(c *cmdCtx, args []string) int {
	var roots []string
	i := 0
	for ; i < len(args) && !strings.HasPrefix(args[i], "-") && args[i] != "!" && args[i] != "("; i++ {
		roots = append(roots, args[i])
	}
	if len(roots) == 0 {
		roots = []string{"."}
	}
	type test func(name string, fi fs.FileInfo, depth int) bool
	var tests []test
	maxDepth, minDepth := -1, 0
	print0, deleteAction := false, false
	negate := false
	add := func(t test) {
		if negate {
			inner := t
			t = func(n string, fi fs.FileInfo, d int) bool { return !inner(n, fi, d) }
			negate = false
		}
		tests = append(tests, t)
	}
	need := func(opt string) (string, bool) {
		if i+1 >= len(args) {
			c.errorf("missing argument to `%s'", opt)
			return "", false
		}
		i++
		return args[i], true
	}
	for ; i < len(args); i++ {
		switch a := args[i]; a {
		case "!", "-not":
			negate = !negate
		case "-a", "-and":
		case "-name", "-iname":
			pat, ok := need(a)
			if !ok {
				return 1
			}
			fold := a == "-iname"
			add(func(n string, _ fs.FileInfo, _ int) bool {
				base := path.Base(n)
				if fold {
					ok, _ := path.Match(strings.ToLower(pat), strings.ToLower(base))
					return ok
				}
				ok, _ := path.Match(pat, base)
				return ok
			})
		case "-path", "-wholename":
			pat, ok := need(a)
			if !ok {
				return 1
			}
			add(func(n string, _ fs.FileInfo, _ int) bool { ok, _ := path.Match(pat, n); return ok })
		case "-type":
			t, ok := need(a)
			if !ok {
				return 1
			}
			if t != "f" && t != "d" && t != "l" {
				c.errorf("Unknown argument to -type: %s", t)
				return 1
			}
			add(func(_ string, fi fs.FileInfo, _ int) bool {
				switch t {
				case "f":
					return fi.Mode().IsRegular()
				case "d":
					return fi.IsDir()
				}
				return fi.Mode()&fs.ModeSymlink != 0
			})
		case "-maxdepth", "-mindepth":
			v, ok := need(a)
			if !ok {
				return 1
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				c.errorf("Expected a positive decimal integer argument to %s, but got `%s'", a, v)
				return 1
			}
			if a == "-maxdepth" {
				maxDepth = n
			} else {
				minDepth = n
			}
		case "-newer":
			ref, ok := need(a)
			if !ok {
				return 1
			}
			rfi, err := c.j.stat(c.abs(ref))
			if err != nil {
				c.errorf("'%s': %s", ref, errText(err))
				return 1
			}
			add(func(_ string, fi fs.FileInfo, _ int) bool { return fi.ModTime().After(rfi.ModTime()) })
		case "-print":
		case "-print0":
			print0 = true
		case "-delete":
			deleteAction = true
		default:
			c.errorf("unknown predicate `%s'", a)
			return 1
		}
	}
	status := 0
	var matched []string
	var walk func(vp, shown string, depth int)
	walk = func(vp, shown string, depth int) {
		if c.ctx.Err() != nil {
			return
		}
		fi, err := c.j.lstat(vp)
		if err != nil {
			c.errorf("'%s': %s", shown, errText(err))
			status = 1
			return
		}
		if depth == 0 && fi.Mode()&fs.ModeSymlink != 0 {
			if tfi, err := c.j.stat(vp); err == nil && tfi.IsDir() && strings.HasSuffix(shown, "/") {
				fi = tfi
			}
		}
		if depth >= minDepth {
			all := true
			for _, t := range tests {
				if !t(shown, fi, depth) {
					all = false
					break
				}
			}
			if all {
				if deleteAction {
					matched = append(matched, vp)
				} else if print0 {
					fmt.Fprint(c.stdout, shown+"\x00")
				} else {
					fmt.Fprintln(c.stdout, shown)
				}
			}
		}
		if fi.IsDir() && (maxDepth < 0 || depth < maxDepth) {
			ents, err := c.j.readDir(vp)
			if err != nil {
				c.errorf("'%s': %s", shown, errText(err))
				status = 1
				return
			}
			for _, e := range ents {
				walk(vp+"/"+e.Name(), strings.TrimSuffix(shown, "/")+"/"+e.Name(), depth+1)
			}
		}
	}
	for _, r := range roots {
		walk(c.abs(r), r, 0)
	}
	slices.Reverse(matched) // children before their directories
	for _, vp := range matched {
		if err := c.j.remove(vp); err != nil {
			c.errorf("cannot delete '%s': %s", vp, errText(err))
			status = 1
		}
	}
	return status
}

// writeFileAtomic replaces vp with data through a temporary file and a
// rename, keeping the old file's mode (sed -i, sort -o).
func (c *cmdCtx) writeFileAtomic(vp string, data []byte) error {
	mode := fs.FileMode(0o644)
	if fi, err := c.j.stat(vp); err == nil {
		mode = fi.Mode().Perm()
	}
	real, err := c.j.realpath(vp)
	if err != nil {
		return err
	}
	var b [6]byte
	rand.Read(b[:])
	tmp := path.Dir(real) + "/." + path.Base(real) + fmt.Sprintf(".%x", b)
	f, err := c.j.open(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode, c.stdin, c.stdout, c.stderr)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = c.j.chmod(tmp, mode)
	}
	if err == nil {
		err = c.j.rename(tmp, real)
	}
	if err != nil {
		c.j.remove(tmp)
	}
	return err
}
