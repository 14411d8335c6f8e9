// Package shell is the command interpreter of one simulated Secure Network
// Analytics Manager in the lab: the exec handler of an in-process SSH
// server, playing the part of `bash -c CMD` as sshd runs it.
//
// It parses and runs POSIX/bash command lines with mvdan.cc/sh/v3 and
// implements the external commands a Manager script needs in Go (see
// Builtins), over the same jailed directory that the SFTP side serves.
// Config.Root is "/" of the simulated host: /lancope/x is Root/lancope/x,
// and neither "..", symlinks (absolute targets resolve inside Root, like a
// chroot) nor redirections can reach outside it. No real program is ever
// run except openssl, whose network destination and file arguments are
// rewritten into the lab.
//
// What differs from a real Manager (Debian-based, bash, GNU coreutils):
//
//   - Only the commands listed by Builtins exist, each with the flags
//     smcfleet and the Cisco procedure use; an unknown flag fails with exit
//     status 2 and a GNU-like usage message. Everything else, awk included
//     (see Unsupported), is "bash: NAME: command not found" (status 127).
//   - The interpreter is mvdan.cc/sh, not bash: rare bash features (job
//     control, some shopt options, `kill` by job spec) are missing.
//   - /dev holds only null, zero, random, urandom, stdin, stdout, stderr
//     and fd/0-2; /proc and /sys are absent; /tmp is Root/tmp, which New
//     does not create (only Root/root, the starting directory).
//   - `command -v`, `type` and `which` know the simulated commands (all in
//     /usr/bin) and shell builtins, not shell functions; /usr/bin/NAME and
//     /bin/NAME run the simulated NAME; other paths run only shell scripts
//     (#!/bin/sh, #!/bin/bash or no shebang) stored in Root.
//   - Everything runs as root (uid 0) and permission bits are not
//     enforced for reads and writes; chown records real ownership only
//     where the test process may change it (it accepts numeric ids and
//     root). Users and groups are root only, unless Root/etc/passwd and
//     Root/etc/group say more.
//   - $$ and `kill` use simulated PIDs: `kill -TERM -- -$$` from another
//     session of the same Shell cancels that command (exit status 143).
//   - df, uname and uptime print plausible fixed values; date is the
//     test machine's clock.
//   - openssl is the machine's binary: -connect goes through Config.Dial
//     (DNS failures are simulated), file options are mapped into Root, and
//     engines, providers and server or proxy modes are refused.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// Config describes one simulated Manager.
type Config struct {
	// Root is the host directory that is "/" of the simulated Manager.
	Root string
	// Hostname is printed by `hostname` and `uname -n`.
	Hostname string
	// Docker handles `docker ...` (args after "docker"); nil means
	// "docker: command not found" (status 127).
	Docker func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	// Dial maps the "host:port" a command connects to (openssl -connect)
	// to the real loopback address to use; ok=false means the name does
	// not resolve. Nil resolves nothing.
	Dial func(hostport string) (addr string, ok bool)
	// OpenSSL is the path of the real openssl binary; "" looks it up in
	// PATH. When missing, openssl is "command not found" (status 127).
	OpenSSL string
	// Uptime is when the simulated host booted, for `uptime`; zero means
	// when New was called.
	Uptime time.Time
}

// Shell runs command lines on one simulated Manager. It is safe for
// concurrent use: each Exec has its own interpreter.
type Shell struct {
	cfg     Config
	openssl string // "" when unavailable

	mu       sync.Mutex
	nextPID  int
	sessions map[int]context.CancelCauseFunc
}

// New returns the shell of the Manager cfg describes, creating Root/root
// (root's home and the starting directory) if missing.
func New(cfg Config) (*Shell, error) {
	if cfg.Root == "" {
		return nil, errors.New("shell: Config.Root is empty")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("shell: %w", err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("shell: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("shell: %s is not a directory", root)
	}
	cfg.Root = root
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("shell: %w", err)
	}
	err = r.MkdirAll("root", 0o700)
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("shell: creating /root: %w", err)
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "smc"
	}
	if cfg.Uptime.IsZero() {
		cfg.Uptime = time.Now()
	}
	s := &Shell{cfg: cfg, nextPID: 4000, sessions: make(map[int]context.CancelCauseFunc)}
	switch {
	case cfg.OpenSSL != "":
		if _, err := os.Stat(cfg.OpenSSL); err == nil {
			s.openssl = cfg.OpenSSL
		}
	default:
		s.openssl, _ = exec.LookPath("openssl")
	}
	return s, nil
}

// Builtins returns the sorted names of the external commands the shell
// implements (the shell's own builtins, such as echo, printf, read, cd,
// test and export, come on top).
func Builtins() []string {
	names := make([]string, 0, len(commands))
	for name := range commands {
		if !strings.HasPrefix(name, internalPrefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Unsupported returns the sorted names of common Manager commands that the
// shell deliberately does not implement; they fail with status 127.
func Unsupported() []string {
	return []string{"awk", "curl", "gawk", "journalctl", "nc", "perl", "python3", "ssh", "systemctl", "wget"}
}

// signal is the cancellation cause recorded by kill, giving Exec's status.
type signal int

func (s signal) Error() string { return "killed by signal " + strconv.Itoa(int(s)) }

const (
	sigTERM signal = 15
	sigKILL signal = 9
	sigINT  signal = 2
	sigHUP  signal = 1
)

// internalPrefix names commands that the call handler substitutes for
// shell builtins which would otherwise look at the real filesystem.
const internalPrefix = "\x00"

// Exec runs cmd as sshd would (`$SHELL -c cmd`) and returns its exit
// status: 127 with "bash: NAME: command not found" for unknown commands,
// 2 for syntax errors, 128+signal (143) when ctx is cancelled or the
// command is killed.
func (s *Shell) Exec(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) int {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	var mu sync.Mutex // the interpreter may write from several goroutines
	stdout = &lockedWriter{mu: &mu, w: stdout}
	stderr = &lockedWriter{mu: &mu, w: stderr}

	file, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(cmd), "")
	if err != nil {
		fmt.Fprintf(stderr, "bash: -c: %v\n", err)
		return 2
	}
	root, err := os.OpenRoot(s.cfg.Root)
	if err != nil {
		fmt.Fprintf(stderr, "bash: %v\n", err)
		return 126
	}
	defer root.Close()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pid := s.register(cancel)
	defer s.unregister(pid)
	replacePID(file, pid)

	sess := &session{sh: s, jail: &jail{root: root}, pid: pid}
	r, err := sess.runner("/root", stdin, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "bash: %v\n", err)
		return 126
	}
	err = r.Run(ctx, file)
	return exitCode(ctx, err)
}

// exitCode turns an interpreter result into an exit status.
func exitCode(ctx context.Context, err error) int {
	if ctx.Err() != nil {
		var sig signal
		if errors.As(context.Cause(ctx), &sig) {
			return 128 + int(sig)
		}
		return 128 + int(sigTERM)
	}
	if err == nil {
		return 0
	}
	var st interp.ExitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	return 1
}

func (s *Shell) register(cancel context.CancelCauseFunc) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextPID++
	s.sessions[s.nextPID] = cancel
	return s.nextPID
}

func (s *Shell) unregister(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, pid)
}

// signal sends sig to the session with that simulated PID (or process
// group, or session id: they are the same); 0 only checks it exists.
func (s *Shell) signal(pid int, sig signal) bool {
	s.mu.Lock()
	cancel, ok := s.sessions[pid]
	s.mu.Unlock()
	if ok && sig != 0 {
		cancel(sig)
	}
	return ok
}

// replacePID makes $$ expand to the session's simulated PID.
func replacePID(file *syntax.File, pid int) {
	lit := strconv.Itoa(pid)
	fix := func(parts []syntax.WordPart) {
		for i, p := range parts {
			pe, ok := p.(*syntax.ParamExp)
			if ok && pe.Param != nil && pe.Param.Value == "$" && pe.Exp == nil && pe.Slice == nil &&
				pe.Repl == nil && !pe.Length && !pe.Width && !pe.Excl && pe.Index == nil {
				parts[i] = &syntax.Lit{ValuePos: pe.Pos(), ValueEnd: pe.End(), Value: lit}
			}
		}
	}
	syntax.Walk(file, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.Word:
			fix(n.Parts)
		case *syntax.DblQuoted:
			fix(n.Parts)
		}
		return true
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// session is one Exec: its jail handle and simulated PID.
type session struct {
	sh   *Shell
	jail *jail
	pid  int
}

// runner makes an interpreter in the jail starting in the virtual dir.
func (ss *session) runner(dir string, stdin io.Reader, stdout, stderr io.Writer, opts ...interp.RunnerOption) (*interp.Runner, error) {
	env := []string{
		"HOME=/root",
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"USER=root",
		"LOGNAME=root",
		"SHELL=/bin/bash",
		"LANG=C",
	}
	return ss.runnerEnv(dir, env, stdin, stdout, stderr, opts...)
}

func (ss *session) runnerEnv(dir string, env []string, stdin io.Reader, stdout, stderr io.Writer, opts ...interp.RunnerOption) (*interp.Runner, error) {
	j := ss.jail
	base := []interp.RunnerOption{
		interp.Env(expand.ListEnviron(env...)),
		func(r *interp.Runner) error { r.Dir = dir; return nil },
		interp.StdIO(stdin, stdout, stderr),
		interp.OpenHandler(j.openHandler),
		interp.StatHandler(j.statHandler),
		interp.ReadDirHandler2(j.readDirHandler),
		interp.AccessHandler(j.accessHandler),
		interp.CallHandler(ss.callHandler),
		interp.ExecHandlers(func(interp.ExecHandlerFunc) interp.ExecHandlerFunc { return ss.execHandler }),
	}
	return interp.New(append(base, opts...)...)
}

// callHandler reroutes the shell builtins that would consult the real
// filesystem or process table (PATH lookups, pwd -P, kill) to Go versions.
func (ss *session) callHandler(ctx context.Context, args []string) ([]string, error) {
	switch args[0] {
	case "type", "kill":
		return append([]string{internalPrefix + args[0]}, args[1:]...), nil
	case "command":
		if len(args) > 1 && (args[1] == "-v" || args[1] == "-V") {
			return append([]string{internalPrefix + "command"}, args[1:]...), nil
		}
	case "pwd":
		if slices.Contains(args[1:], "-P") {
			return []string{internalPrefix + "pwd"}, nil
		}
	}
	return args, nil
}

// binDirs are the directories where the simulated commands "live".
var binDirs = []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// execHandler runs every command that is not a shell builtin or function.
// It never falls through to the interpreter's default, which would run a
// real program.
func (ss *session) execHandler(ctx context.Context, args []string) error {
	hc := interp.HandlerCtx(ctx)
	cx := &cmdCtx{
		ctx: ctx, ss: ss, j: ss.jail, hc: hc,
		stdin: hc.Stdin, stdout: hc.Stdout, stderr: hc.Stderr,
		dir: hc.Dir, env: hc.Env,
	}
	if cx.stdin == nil {
		cx.stdin = strings.NewReader("")
	}
	defer cx.watchStdin(ctx)()
	code := cx.run(args)
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if code == 0 {
		return nil
	}
	return interp.ExitStatus(uint8(code))
}

// cmdCtx is what a command implementation gets: its streams, the virtual
// cwd and environment, and the jail.
type cmdCtx struct {
	ctx    context.Context
	ss     *session
	j      *jail
	hc     interp.HandlerContext
	name   string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	dir    string
	env    expand.Environ
}

type command func(c *cmdCtx, args []string) int

// commands maps names to implementations; filled in by init functions of
// the cmd_*.go files.
var commands = map[string]command{}

// run runs args as an external command (args[0] may be a path).
func (c *cmdCtx) run(args []string) int {
	name := args[0]
	if strings.Contains(name, "/") {
		vp := abs(c.dir, name)
		dir, base := filepath.Split(filepath.Clean(vp))
		_, ok := commands[base]
		if (ok || interp.IsBuiltin(base)) && slices.Contains(binDirs, filepath.Clean(dir)) {
			name = base
		} else {
			return c.runFile(vp, args)
		}
	}
	fn, ok := commands[name]
	if !ok {
		if interp.IsBuiltin(name) {
			// From env, xargs or timeout: the shell's builtin.
			args = append([]string{name}, args[1:]...)
			if err := c.hc.Builtin(c.ctx, args); err != nil {
				var st interp.ExitStatus
				if errors.As(err, &st) {
					return int(st)
				}
				return 1
			}
			return 0
		}
		fmt.Fprintf(c.stderr, "bash: %s: command not found\n", name)
		return 127
	}
	sub := *c
	sub.name = strings.TrimPrefix(name, internalPrefix)
	return fn(&sub, args[1:])
}

// runFile runs a script in the jail by path: a shebang naming sh or bash,
// or none, runs it in a new interpreter; anything else cannot be run.
func (c *cmdCtx) runFile(vp string, args []string) int {
	name := args[0]
	fi, err := c.j.stat(vp)
	switch {
	case err != nil:
		fmt.Fprintf(c.stderr, "bash: %s: %s\n", name, errText(err))
		return 127
	case fi.IsDir():
		fmt.Fprintf(c.stderr, "bash: %s: Is a directory\n", name)
		return 126
	case fi.Mode().Perm()&0o111 == 0:
		fmt.Fprintf(c.stderr, "bash: %s: Permission denied\n", name)
		return 126
	}
	src, err := c.readFile(vp)
	if err != nil {
		fmt.Fprintf(c.stderr, "bash: %s: %s\n", name, errText(err))
		return 126
	}
	if strings.HasPrefix(src, "#!") {
		line, _, _ := strings.Cut(src[2:], "\n")
		fields := strings.Fields(line)
		interpName := ""
		if len(fields) > 0 {
			interpName = filepath.Base(fields[0])
			if interpName == "env" && len(fields) > 1 {
				interpName = fields[1]
			}
		}
		if interpName != "sh" && interpName != "bash" {
			fmt.Fprintf(c.stderr, "bash: %s: %s: bad interpreter: No such file or directory\n", name, strings.TrimSpace(line))
			return 126
		}
	}
	return c.runScript(src, name, args[1:])
}

// runScript runs shell source in a new interpreter (bash -c, sh FILE,
// ./script) with the exported environment and cwd of the caller.
func (c *cmdCtx) runScript(src, arg0 string, params []string) int {
	file, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(src), arg0)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", arg0, err)
		return 2
	}
	replacePID(file, c.ss.pid)
	var env []string
	c.env.Each(func(name string, vr expand.Variable) bool {
		if vr.Exported && vr.IsSet() {
			env = append(env, name+"="+vr.String())
		}
		return true
	})
	r, err := c.ss.runnerEnv(c.dir, env, c.stdin, c.stdout, c.stderr, interp.Params(append([]string{"--"}, params...)...))
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", arg0, err)
		return 126
	}
	err = r.Run(c.ctx, file)
	if c.ctx.Err() != nil {
		return exitCode(c.ctx, err)
	}
	return exitCode(context.Background(), err)
}

// readFile reads a whole virtual file.
func (c *cmdCtx) readFile(vp string) (string, error) {
	f, err := c.j.open(vp, os.O_RDONLY, 0, c.stdin, c.stdout, c.stderr)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return "", pathErr("read", vp, unwrap(err))
	}
	return string(b), nil
}

// abs is the virtual absolute path of a command argument.
func (c *cmdCtx) abs(p string) string { return abs(c.dir, p) }

// open opens a command's file argument; "-" is standard input when
// dash is set.
func (c *cmdCtx) open(p string, dash bool) (io.ReadCloser, error) {
	if dash && p == "-" {
		return io.NopCloser(c.stdin), nil
	}
	f, err := c.j.open(c.abs(p), os.O_RDONLY, 0, c.stdin, c.stdout, c.stderr)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// errorf prints "name: message" on stderr.
func (c *cmdCtx) errorf(format string, args ...any) {
	fmt.Fprintf(c.stderr, c.name+": "+format+"\n", args...)
}

// fileErr prints a GNU-style "name: what 'path': Strerror" message; what
// may be empty ("name: path: Strerror").
func (c *cmdCtx) fileErr(what, p string, err error) {
	if c.ctx.Err() != nil {
		return // killed: a real process would print nothing more
	}
	if what == "" {
		c.errorf("%s: %s", p, errText(err))
		return
	}
	c.errorf("%s '%s': %s", what, p, errText(err))
}

// watchStdin makes a blocked read of an *os.File stdin (the interpreter
// always provides one) return when ctx ends; the returned func undoes it.
func (c *cmdCtx) watchStdin(ctx context.Context) func() {
	f, ok := c.stdin.(*os.File)
	if !ok {
		return func() {}
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	return func() {
		if !stop() {
			f.SetReadDeadline(time.Time{})
		}
	}
}

// sleep waits d or until the context ends; it reports whether d passed.
func (c *cmdCtx) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}
