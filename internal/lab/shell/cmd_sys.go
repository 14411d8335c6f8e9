package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

func init() {
	for name, fn := range map[string]command{
		"id": cmdID, "getent": cmdGetent, "hostname": cmdHostname, "date": cmdDate,
		"uname": cmdUname, "whoami": cmdWhoami, "sleep": cmdSleep, "env": cmdEnv,
		"printenv": cmdPrintenv, "which": cmdWhich, "timeout": cmdTimeout,
		"docker": cmdDocker, "uptime": cmdUptime, "bash": cmdBash, "sh": cmdBash,
		"nproc": cmdNproc, "openssl": cmdOpenSSL,
		internalPrefix + "type": cmdType, internalPrefix + "command": cmdCommandV,
		internalPrefix + "kill": cmdKill,
	} {
		commands[name] = fn
	}
}

// errSilent is returned by eachInput callbacks that already reported the
// problem.
var errSilent = errors.New("reported")

// account is one line of the simulated /etc/passwd or /etc/group.
type account struct {
	name string
	id   int
	line string
}

// accounts reads Root/etc/passwd or Root/etc/group; root always exists.
func (c *cmdCtx) accounts(db string) []account {
	root := account{name: "root", id: 0, line: "root:x:0:0:root:/root:/bin/bash"}
	if db == "group" {
		root.line = "root:x:0:"
	}
	data, err := c.readFile("/etc/" + db)
	if err != nil {
		return []account{root}
	}
	var out []account
	for _, l := range strings.Split(data, "\n") {
		f := strings.Split(l, ":")
		if len(f) < 3 || strings.HasPrefix(l, "#") {
			continue
		}
		id, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		out = append(out, account{name: f[0], id: id, line: l})
	}
	if !slices.ContainsFunc(out, func(a account) bool { return a.id == 0 }) {
		out = append([]account{root}, out...)
	}
	return out
}

// lookupID resolves a user or group name or number.
func (c *cmdCtx) lookupID(s, db string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return n, true
	}
	for _, a := range c.accounts(db) {
		if a.name == s {
			return a.id, true
		}
	}
	return 0, false
}

func (c *cmdCtx) nameOf(id int, db string) string {
	for _, a := range c.accounts(db) {
		if a.id == id {
			return a.name
		}
	}
	return strconv.Itoa(id)
}

func (c *cmdCtx) userName(uid int) string  { return c.nameOf(uid, "passwd") }
func (c *cmdCtx) groupName(gid int) string { return c.nameOf(gid, "group") }

func cmdID(c *cmdCtx, args []string) int {
	o, rest, ok := c.parseFlags(args, "ugGnr", map[string]byte{"user": 'u', "group": 'g', "groups": 'G', "name": 'n', "real": 'r'})
	if !ok {
		return 2
	}
	if len(rest) > 0 && rest[0] != "root" && rest[0] != "0" {
		c.errorf("'%s': no such user", rest[0])
		return 1
	}
	n := o.has('n')
	switch {
	case o.has('u') || o.has('g') || o.has('G'):
		if n {
			fmt.Fprintln(c.stdout, "root")
		} else {
			fmt.Fprintln(c.stdout, "0")
		}
	case n:
		c.errorf("cannot print only names or real IDs in default format")
		return 1
	default:
		fmt.Fprintln(c.stdout, "uid=0(root) gid=0(root) groups=0(root)")
	}
	return 0
}

func cmdGetent(c *cmdCtx, args []string) int {
	_, rest, ok := c.parseFlags(args, "s:i", map[string]byte{"service": 's'})
	if !ok {
		return 2
	}
	if len(rest) == 0 {
		c.errorf("wrong number of arguments")
		return 1
	}
	db := rest[0]
	switch db {
	case "passwd", "group":
	case "hosts", "ahosts":
		return c.getentHosts(rest[1:])
	default:
		fmt.Fprintf(c.stderr, "Unknown database: %s\nTry `getent --help' or `getent --usage' for more information.\n", db)
		return 1
	}
	accts := c.accounts(db)
	if len(rest) == 1 {
		for _, a := range accts {
			fmt.Fprintln(c.stdout, a.line)
		}
		return 0
	}
	status := 0
	for _, key := range rest[1:] {
		i := slices.IndexFunc(accts, func(a account) bool { return a.name == key || strconv.Itoa(a.id) == key })
		if i < 0 {
			status = 2
			continue
		}
		fmt.Fprintln(c.stdout, accts[i].line)
	}
	return status
}

// getentHosts resolves names through Config.Dial only.
func (c *cmdCtx) getentHosts(names []string) int {
	status := 0
	for _, n := range names {
		addr, ok := c.dial(n + ":0")
		if !ok {
			status = 2
			continue
		}
		host, _, _ := strings.Cut(addr, ":")
		fmt.Fprintf(c.stdout, "%-15s %s\n", host, n)
	}
	return status
}

func (c *cmdCtx) dial(hostport string) (string, bool) {
	if c.ss.sh.cfg.Dial == nil {
		return "", false
	}
	return c.ss.sh.cfg.Dial(hostport)
}

func cmdHostname(c *cmdCtx, args []string) int {
	o, rest, ok := c.parseFlags(args, "sfI", map[string]byte{"short": 's', "fqdn": 'f', "all-ip-addresses": 'I'})
	if !ok {
		return 2
	}
	if len(rest) > 0 {
		c.errorf("you must be root to change the host name")
		return 1
	}
	h := c.ss.sh.cfg.Hostname
	switch {
	case o.has('s'):
		h, _, _ = strings.Cut(h, ".")
	case o.has('I'):
		h = "127.0.0.1"
	}
	fmt.Fprintln(c.stdout, h)
	return 0
}

func cmdWhoami(c *cmdCtx, args []string) int {
	if len(args) > 0 {
		c.errorf("extra operand '%s'", args[0])
		return 2
	}
	fmt.Fprintln(c.stdout, "root")
	return 0
}

// strftime formats t for date +FORMAT (the common conversions).
func strftime(format string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 == len(format) {
			b.WriteByte(format[i])
			continue
		}
		i++
		switch format[i] {
		case 's':
			b.WriteString(strconv.FormatInt(t.Unix(), 10))
		case 'Y':
			b.WriteString(t.Format("2006"))
		case 'm':
			b.WriteString(t.Format("01"))
		case 'd':
			b.WriteString(t.Format("02"))
		case 'e':
			b.WriteString(t.Format("_2"))
		case 'H':
			b.WriteString(t.Format("15"))
		case 'M':
			b.WriteString(t.Format("04"))
		case 'S':
			b.WriteString(t.Format("05"))
		case 'N':
			b.WriteString(fmt.Sprintf("%09d", t.Nanosecond()))
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'y':
			b.WriteString(t.Format("06"))
		case 'j':
			b.WriteString(fmt.Sprintf("%03d", t.YearDay()))
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}

func cmdDate(c *cmdCtx, args []string) int {
	o, rest, ok := c.parseFlags(args, "ud:R", map[string]byte{"utc": 'u', "date": 'd', "rfc-email": 'R'})
	if !ok {
		return 2
	}
	t := time.Now()
	if d := o.last('d', ""); d != "" {
		var err error
		if t, err = parseDate(d); err != nil {
			c.errorf("invalid date '%s'", d)
			return 1
		}
	}
	if o.has('u') {
		t = t.UTC()
	}
	format := "%a %b %e %H:%M:%S %Z %Y"
	if o.has('R') {
		format = "%a, %d %b %Y %H:%M:%S %z"
	}
	for _, a := range rest {
		if !strings.HasPrefix(a, "+") {
			c.errorf("invalid date '%s'", a)
			return 1
		}
		format = a[1:]
	}
	fmt.Fprintln(c.stdout, strftime(format, t))
	return 0
}

func cmdUname(c *cmdCtx, args []string) int {
	o, _, ok := c.parseFlags(args, "asnrvmpio", map[string]byte{"all": 'a', "kernel-name": 's', "nodename": 'n', "kernel-release": 'r', "kernel-version": 'v', "machine": 'm', "operating-system": 'o'})
	if !ok {
		return 2
	}
	vals := map[byte]string{
		's': "Linux", 'n': c.ss.sh.cfg.Hostname, 'r': "5.10.0-28-amd64",
		'v': "#1 SMP Debian 5.10.209-2 (2024-01-31)", 'm': "x86_64", 'o': "GNU/Linux",
	}
	var out []string
	for _, b := range []byte("snrvmo") {
		if o.has('a') || o.has(b) {
			out = append(out, vals[b])
		}
	}
	if len(out) == 0 {
		out = []string{"Linux"}
	}
	fmt.Fprintln(c.stdout, strings.Join(out, " "))
	return 0
}

func cmdUptime(c *cmdCtx, args []string) int {
	up := time.Since(c.ss.sh.cfg.Uptime)
	if slices.Contains(args, "-p") {
		fmt.Fprintf(c.stdout, "up %d days, %d hours, %d minutes\n", int(up.Hours())/24, int(up.Hours())%24, int(up.Minutes())%60)
		return 0
	}
	fmt.Fprintf(c.stdout, " %s up %d days, %2d:%02d,  1 user,  load average: 0.42, 0.38, 0.35\n",
		time.Now().Format("15:04:05"), int(up.Hours())/24, int(up.Hours())%24, int(up.Minutes())%60)
	return 0
}

func cmdNproc(c *cmdCtx, args []string) int {
	fmt.Fprintln(c.stdout, "8")
	return 0
}

// parseDuration parses sleep/timeout's NUMBER[smhd].
func parseDuration(s string) (time.Duration, bool) {
	unit := time.Second
	switch {
	case strings.HasSuffix(s, "s"):
		s = s[:len(s)-1]
	case strings.HasSuffix(s, "m"):
		s, unit = s[:len(s)-1], time.Minute
	case strings.HasSuffix(s, "h"):
		s, unit = s[:len(s)-1], time.Hour
	case strings.HasSuffix(s, "d"):
		s, unit = s[:len(s)-1], 24*time.Hour
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, false
	}
	return time.Duration(f * float64(unit)), true
}

func cmdSleep(c *cmdCtx, args []string) int {
	if len(args) == 0 {
		return c.missing("operand")
	}
	var total time.Duration
	for _, a := range args {
		d, ok := parseDuration(a)
		if !ok {
			c.usage("invalid time interval '%s'", a)
			return 1
		}
		total += d
	}
	if !c.sleep(total) {
		return 143
	}
	return 0
}

func cmdEnv(c *cmdCtx, args []string) int {
	var unset []string
	clear := false
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-i" || a == "-" || a == "--ignore-environment":
			clear = true
		case a == "-u" && i+1 < len(args):
			i++
			unset = append(unset, args[i])
		case a == "--":
			i++
			goto operands
		case strings.HasPrefix(a, "-"):
			c.usage("invalid option -- '%s'", strings.TrimLeft(a, "-"))
			return 125
		default:
			goto operands
		}
	}
operands:
	vars := map[string]string{}
	var order []string
	if !clear {
		c.env.Each(func(name string, vr expand.Variable) bool {
			if vr.Exported && vr.IsSet() && !slices.Contains(unset, name) {
				vars[name] = vr.String()
				order = append(order, name)
			}
			return true
		})
	}
	for ; i < len(args) && strings.Contains(args[i], "=") && !strings.HasPrefix(args[i], "="); i++ {
		k, v, _ := strings.Cut(args[i], "=")
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	if i == len(args) {
		slices.Sort(order)
		for _, k := range order {
			fmt.Fprintf(c.stdout, "%s=%s\n", k, vars[k])
		}
		return 0
	}
	sub := *c
	var list []string
	for _, k := range order {
		list = append(list, k+"="+vars[k])
	}
	sub.env = expand.ListEnviron(list...)
	return sub.run(args[i:])
}

func cmdPrintenv(c *cmdCtx, args []string) int {
	if len(args) == 0 {
		return cmdEnv(c, nil)
	}
	status := 0
	for _, a := range args {
		vr := c.env.Get(a)
		if !vr.Exported || !vr.IsSet() {
			status = 1
			continue
		}
		fmt.Fprintln(c.stdout, vr.String())
	}
	return status
}

// commandPath is where a simulated command "lives".
func commandPath(name string) (string, bool) {
	if _, ok := commands[name]; !ok || strings.HasPrefix(name, internalPrefix) {
		return "", false
	}
	if name == "sh" || name == "bash" {
		return "/usr/bin/" + name, true
	}
	return "/usr/bin/" + name, true
}

func cmdWhich(c *cmdCtx, args []string) int {
	_, rest, ok := c.parseFlags(args, "as", nil)
	if !ok {
		return 2
	}
	status := 0
	for _, a := range rest {
		if p, ok := commandPath(a); ok {
			fmt.Fprintln(c.stdout, p)
		} else {
			status = 1
		}
	}
	return status
}

func cmdCommandV(c *cmdCtx, args []string) int {
	verbose := len(args) > 0 && args[0] == "-V"
	status := 0
	for _, a := range args[1:] {
		switch p, ok := commandPath(a); {
		case syntax.IsKeyword(a) || interp.IsBuiltin(a):
			if verbose {
				fmt.Fprintf(c.stdout, "%s is a shell builtin\n", a)
			} else {
				fmt.Fprintln(c.stdout, a)
			}
		case ok:
			if verbose {
				fmt.Fprintf(c.stdout, "%s is %s\n", a, p)
			} else {
				fmt.Fprintln(c.stdout, p)
			}
		default:
			if verbose {
				fmt.Fprintf(c.stderr, "bash: command: %s: not found\n", a)
			}
			status = 1
		}
	}
	return status
}

func cmdType(c *cmdCtx, args []string) int {
	mode := ""
	var names []string
	for _, a := range args {
		switch a {
		case "-t", "-p", "-P":
			mode = a
		default:
			names = append(names, a)
		}
	}
	status := 0
	for _, a := range names {
		p, isCmd := commandPath(a)
		switch {
		case syntax.IsKeyword(a):
			if mode == "-t" {
				fmt.Fprintln(c.stdout, "keyword")
			} else if mode == "" {
				fmt.Fprintf(c.stdout, "%s is a shell keyword\n", a)
			}
		case interp.IsBuiltin(a):
			if mode == "-t" {
				fmt.Fprintln(c.stdout, "builtin")
			} else if mode == "" {
				fmt.Fprintf(c.stdout, "%s is a shell builtin\n", a)
			}
		case isCmd:
			switch mode {
			case "-t":
				fmt.Fprintln(c.stdout, "file")
			case "-p", "-P":
				fmt.Fprintln(c.stdout, p)
			default:
				fmt.Fprintf(c.stdout, "%s is %s\n", a, p)
			}
		default:
			if mode == "" {
				fmt.Fprintf(c.stderr, "bash: type: %s: not found\n", a)
			}
			status = 1
		}
	}
	return status
}

var signals = map[string]signal{"TERM": sigTERM, "KILL": sigKILL, "INT": sigINT, "HUP": sigHUP, "0": 0, "15": sigTERM, "9": sigKILL, "2": sigINT, "1": sigHUP}

// cmdKill signals simulated PIDs ($$ of sessions of the same Shell).
func cmdKill(c *cmdCtx, args []string) int {
	sig := sigTERM
	sigGiven := false
	var pids []string
	setSig := func(spec string) bool {
		s, ok := signals[strings.TrimPrefix(strings.ToUpper(spec), "SIG")]
		if !ok {
			fmt.Fprintf(c.stderr, "bash: kill: %s: invalid signal specification\n", spec)
			return false
		}
		sig, sigGiven = s, true
		return true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pids = append(pids, args[i+1:]...)
			i = len(args)
		case a == "-l":
			fmt.Fprintln(c.stdout, " 1) SIGHUP\t 2) SIGINT\t 9) SIGKILL\t15) SIGTERM")
			return 0
		case (a == "-s" || a == "-n") && i+1 < len(args):
			i++
			if !setSig(args[i]) {
				return 1
			}
		case strings.HasPrefix(a, "-") && len(a) > 1 && !sigGiven && len(pids) == 0:
			if !setSig(a[1:]) {
				return 1
			}
		default:
			pids = append(pids, a)
		}
	}
	if len(pids) == 0 {
		fmt.Fprintln(c.stderr, "kill: usage: kill [-s sigspec | -n signum | -sigspec] pid | jobspec ... or kill -l [sigspec]")
		return 2
	}
	status := 0
	for _, p := range pids {
		n, err := strconv.Atoi(strings.TrimPrefix(p, "-"))
		if err != nil {
			fmt.Fprintf(c.stderr, "bash: kill: %s: arguments must be process or job IDs\n", p)
			status = 1
			continue
		}
		if !c.ss.sh.signal(n, sig) {
			fmt.Fprintf(c.stderr, "bash: kill: (%s) - No such process\n", p)
			status = 1
		}
	}
	return status
}

func cmdTimeout(c *cmdCtx, args []string) int {
	var killAfter time.Duration
	sig := sigTERM
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		a := args[i]
		switch {
		case a == "--":
			i++
			goto rest
		case a == "--preserve-status" || a == "--foreground" || a == "-v" || a == "--verbose":
		case (a == "-k" || a == "-s") && i+1 < len(args):
			i++
			if a == "-k" {
				d, ok := parseDuration(args[i])
				if !ok {
					c.errorf("invalid time interval '%s'", args[i])
					return 125
				}
				killAfter = d
			} else if s, ok := signals[strings.TrimPrefix(strings.ToUpper(args[i]), "SIG")]; ok {
				sig = s
			}
		default:
			c.usage("invalid option -- '%s'", strings.TrimLeft(a, "-"))
			return 125
		}
	}
rest:
	_ = killAfter
	if len(args)-i < 2 {
		c.usage("missing operand")
		return 125
	}
	d, ok := parseDuration(args[i])
	if !ok {
		c.errorf("invalid time interval '%s'", args[i])
		return 125
	}
	ctx := c.ctx
	var cancel context.CancelFunc
	if d > 0 {
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	sub := *c
	sub.ctx = ctx
	defer sub.watchStdin(ctx)()
	code := sub.run(args[i+1:])
	if ctx.Err() == context.DeadlineExceeded && c.ctx.Err() == nil {
		_ = sig
		return 124
	}
	return code
}

func cmdDocker(c *cmdCtx, args []string) int {
	if c.ss.sh.cfg.Docker == nil {
		fmt.Fprintln(c.stderr, "bash: docker: command not found")
		return 127
	}
	return c.ss.sh.cfg.Docker(c.ctx, args, c.stdout, c.stderr)
}

// cmdBash runs `bash -c CMD [ARG0 ARGS...]`, `bash FILE ARGS...` and
// `bash -s` / `bash < script` in a new interpreter in the same jail.
func cmdBash(c *cmdCtx, args []string) int {
	var command *string
	var opts []string
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "+") || a == "-" {
			break
		}
		if a == "-c" {
			if i+1 >= len(args) {
				fmt.Fprintf(c.stderr, "%s: -c: option requires an argument\n", c.name)
				return 2
			}
			i++
			command = &args[i]
			continue
		}
		if a == "-o" && i+1 < len(args) {
			opts = append(opts, a, args[i+1])
			i++
			continue
		}
		switch strings.TrimLeft(a, "-+") {
		case "l", "login", "noprofile", "norc", "s", "i":
		default:
			opts = append(opts, a)
		}
	}
	rest := args[i:]
	var src, arg0 string
	var params []string
	switch {
	case command != nil:
		src, arg0 = *command, c.name
		if len(rest) > 0 {
			arg0, params = rest[0], rest[1:]
		}
	case len(rest) > 0 && rest[0] != "-":
		data, err := c.readFile(c.abs(rest[0]))
		if err != nil {
			fmt.Fprintf(c.stderr, "%s: %s: %s\n", c.name, rest[0], errText(err))
			return 127
		}
		src, arg0, params = data, rest[0], rest[1:]
	default:
		data, err := io.ReadAll(c.stdin)
		if err != nil {
			return 1
		}
		src, arg0 = string(data), c.name
		c.stdin = strings.NewReader("")
	}
	if len(opts) > 0 {
		src = "set " + strings.Join(opts, " ") + "\n" + src
	}
	return c.runScript(src, arg0, params)
}
