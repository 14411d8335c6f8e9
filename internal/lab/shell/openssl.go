package shell

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// opensslSubcommands are the openssl commands the lab runs. Others (s_server,
// ocsp, ca, engine, ...) would listen, reach the network or load code, and
// are refused.
var opensslSubcommands = map[string]bool{
	"s_client": true, "x509": true, "verify": true, "req": true, "genrsa": true,
	"genpkey": true, "rsa": true, "pkey": true, "ec": true, "ecparam": true,
	"dhparam": true, "dgst": true, "sha1": true, "sha256": true, "sha512": true,
	"md5": true, "base64": true, "enc": true, "rand": true, "crl": true,
	"crl2pkcs7": true, "pkcs7": true, "pkcs12": true, "asn1parse": true,
	"ciphers": true, "version": true, "list": true, "help": true, "errstr": true,
	"pkeyutl": true,
}

// opensslPositionalFiles are the subcommands whose operands are files.
var opensslPositionalFiles = map[string]bool{
	"verify": true, "dgst": true, "sha1": true, "sha256": true, "sha512": true, "md5": true,
}

// opensslFileOptions take a file (or directory) name.
var opensslFileOptions = map[string]bool{
	"-in": true, "-out": true, "-CAfile": true, "-CApath": true, "-cert": true, "-key": true,
	"-cert_chain": true, "-chainCAfile": true, "-chainCApath": true, "-verifyCAfile": true,
	"-verifyCApath": true, "-requestCAfile": true, "-CRL": true, "-untrusted": true,
	"-signkey": true, "-CA": true, "-CAkey": true, "-keyout": true, "-sess_out": true,
	"-sess_in": true, "-msgfile": true, "-keylogfile": true, "-trusted": true,
	"-certfile": true, "-inkey": true, "-sign": true, "-verify_file": true, "-signature": true,
	"-prverify": true, "-extfile": true, "-CAserial": true, "-writerand": true,
	"-paramfile": true, "-dhparam": true, "-early_data": true, "-psk_session": true,
	"-peerkey": true, "-kdfopt_file": true, "-config": true, "-xchain": true,
	"-xcert": true, "-xkey": true,
}

// opensslValueOptions take a value that is not a file.
var opensslValueOptions = map[string]bool{
	"-starttls": true, "-servername": true, "-cipher": true, "-ciphersuites": true,
	"-verify_depth": true, "-name": true, "-groups": true, "-curves": true, "-sigalgs": true,
	"-nameopt": true, "-certopt": true, "-inform": true, "-outform": true, "-keyform": true,
	"-CAform": true, "-CAkeyform": true, "-certform": true, "-days": true, "-set_serial": true,
	"-subj": true, "-addext": true, "-newkey": true, "-pkeyopt": true, "-sigopt": true,
	"-macopt": true, "-checkend": true, "-checkhost": true, "-checkemail": true,
	"-checkip": true, "-attime": true, "-purpose": true, "-policy": true, "-auth_level": true,
	"-verify_hostname": true, "-verify_email": true, "-verify_ip": true, "-verify_name": true,
	"-alpn": true, "-nextprotoneg": true, "-xmpphost": true, "-psk_identity": true,
	"-psk": true, "-maxfraglen": true, "-max_send_frag": true, "-split_send_frag": true,
	"-max_pipelines": true, "-read_buf": true, "-keymatexport": true, "-keymatexportlen": true,
	"-dane_tlsa_domain": true, "-dane_tlsa_rrdata": true, "-propquery": true, "-ext": true,
	"-alias": true, "-setalias": true, "-addtrust": true, "-addreject": true,
	"-extensions": true, "-reqexts": true, "-copy_extensions": true, "-digest": true,
	"-algorithm": true, "-pkeyopt_passin": true, "-md": true,
	"-mtu": true, "-iter": true, "-K": true, "-iv": true,
	"-S": true, "-pass": true, "-passin": true, "-passout": true, "-rand": true,
	"-connect": true, "-verify": true, "-sigfile": true, "-keyopt": true,
}

// opensslRefused options would reach outside the lab (other hosts, real
// files through engines or providers).
var opensslRefused = map[string]bool{
	"-engine": true, "-provider": true, "-provider-path": true, "-proxy": true,
	"-proxy_user": true, "-proxy_pass": true, "-bind": true, "-unix": true,
	"-host": true, "-port": true, "-keyengine": true, "-ssl_config": true,
	"-CAstore": true, "-chainCAstore": true, "-verifyCAstore": true, "-url": true,
}

// cmdOpenSSL runs the real openssl with its files and its destination
// rewritten into the lab.
func cmdOpenSSL(c *cmdCtx, args []string) int {
	bin := c.ss.sh.openssl
	if bin == "" {
		fmt.Fprintln(c.stderr, "bash: openssl: command not found")
		return 127
	}
	if len(args) == 0 {
		c.errorf("interactive mode is not available on this simulated host")
		return 1
	}
	sub := args[0]
	if !opensslSubcommands[sub] {
		fmt.Fprintf(c.stderr, "Invalid command '%s'; type \"help\" for a list.\n", sub)
		return 1
	}
	out := []string{sub}
	connect := ""
	hasServerName := false
	positionalConnect := sub == "s_client"
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case opensslRefused[a]:
			c.errorf("%s: option %s is not available on this simulated host", sub, a)
			return 1
		case a == "-connect" && sub == "s_client" && i+1 < len(args):
			i++
			connect = args[i]
			continue
		case a == "-servername" || a == "-noservername":
			hasServerName = true
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			takesFile := opensslFileOptions[a]
			// dgst -verify and -prverify take a key file; s_client -verify a depth.
			if a == "-verify" && sub != "s_client" && sub != "verify" && sub != "req" && sub != "crl" {
				takesFile = true
			}
			out = append(out, a)
			if (!takesFile && !opensslValueOptions[a]) || i+1 >= len(args) {
				continue
			}
			i++
			v := args[i]
			if takesFile {
				hp, ok := c.opensslPath(v)
				if !ok {
					return 1
				}
				v = hp
			} else if a == "-pass" || a == "-passin" || a == "-passout" {
				if f, ok := strings.CutPrefix(v, "file:"); ok {
					hp, ok := c.opensslPath(f)
					if !ok {
						return 1
					}
					v = "file:" + hp
				}
			} else if a == "-rand" {
				var parts []string
				for _, f := range strings.Split(v, ":") {
					hp, ok := c.opensslPath(f)
					if !ok {
						return 1
					}
					parts = append(parts, hp)
				}
				v = strings.Join(parts, ":")
			}
			out = append(out, v)
			continue
		}
		switch {
		case positionalConnect && connect == "":
			connect = a
		case opensslPositionalFiles[sub]:
			hp, ok := c.opensslPath(a)
			if !ok {
				return 1
			}
			out = append(out, hp)
		default:
			out = append(out, a)
		}
	}
	if sub == "s_client" {
		if connect == "" {
			connect = "localhost:4433"
		}
		host, port, err := net.SplitHostPort(connect)
		if err != nil {
			host, port = connect, "4433"
		}
		addr, ok := c.dial(net.JoinHostPort(host, port))
		if !ok {
			// What openssl 3 prints when getaddrinfo fails.
			fmt.Fprintf(c.stderr, "40F7E1D1B57F0000:error:10080002:BIO routines:BIO_lookup_ex:system lib:../crypto/bio/bio_addr.c:738:Name or service not known\n")
			fmt.Fprintf(c.stderr, "connect:errno=0\n")
			return 1
		}
		out = append(out, "-connect", addr)
		if !hasServerName && net.ParseIP(host) == nil {
			out = append(out, "-servername", host)
		}
	}

	cmd := exec.Command(bin, out...)
	hostDir, err := c.j.hostPath(c.dir)
	if err != nil {
		hostDir = c.j.root.Name()
	}
	cmd.Dir = hostDir
	home, err := c.j.hostPath("/root")
	if err != nil {
		home = c.j.root.Name()
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LANG=C"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.stdin, c.stdout, c.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		c.errorf("%v", err)
		return 126
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-c.ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	err = cmd.Wait()
	close(done)
	if c.ctx.Err() != nil {
		return 143
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		c.errorf("%v", err)
		return 1
	}
	return 0
}

// opensslPath maps a file argument of openssl into the jail ("-" and the
// stdio devices pass through).
func (c *cmdCtx) opensslPath(p string) (string, bool) {
	switch p {
	case "-", "stdin", "stdout":
		return p, true
	}
	vp := c.abs(p)
	switch d := device(vp); d {
	case "":
	case "/dev/tty":
		c.errorf("%s: No such device or address", p)
		return "", false
	default:
		return d, true
	}
	hp, err := c.j.hostPath(vp)
	if err != nil {
		c.errorf("%s: %s", p, errText(err))
		return "", false
	}
	// hostPath never leaves the root lexically; check anyway.
	if rel := strings.TrimPrefix(hp, c.j.root.Name()); rel == hp || rel != "" && !strings.HasPrefix(rel, "/") {
		c.errorf("%s: Permission denied", p)
		return "", false
	}
	return hp, true
}
