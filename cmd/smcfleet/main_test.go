package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/smcfleet/smcfleet/internal/sshtest"
	"github.com/smcfleet/smcfleet/runner"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"smcfleet": func() { os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr)) },
		// smcfleet-code runs smcfleet, prints "exit=N" on stderr and
		// exits 0, so a script can check an exact exit code.
		"smcfleet-code": func() {
			code := run(append([]string{"smcfleet"}, os.Args[1:]...), os.Stdin, os.Stdout, os.Stderr)
			fmt.Fprintf(os.Stderr, "exit=%d\n", code)
		},
	})
}

// defaultCiphers is a realistic default OpenSSL cipher list of a Manager:
// it still allows DHE suites.
const defaultCiphers = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256\n"

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("HOME", e.WorkDir)
			e.Setenv("SSH_AUTH_SOCK", "")
			// Scripts run in parallel: each its own run lock.
			e.Setenv("SMCFLEET_LOCK_FILE", e.WorkDir+"/run.lock")
			e.Values["fleet"] = map[string]*sshtest.Server{}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"fleet":      cmdFleet,
			"fault":      cmdFault,
			"sshstats":   cmdStats,
			"snapshot":   cmdSnapshot,
			"jsonschema": cmdJSONSchema,
			"jsonpath":   cmdJSONPath,
			"waitfile":   cmdWaitFile,
			"pidgone":    cmdPIDGone,
			"envfile":    cmdEnvFile,
		},
	})
}

func servers(ts *testscript.TestScript) map[string]*sshtest.Server {
	return ts.Value("fleet").(map[string]*sshtest.Server)
}

// fleet N [knownhosts|jump]: start N in-process SSH servers smc-01..smc-N, each
// with its own directory $WORK/hosts/<name> seeded with a Manager's
// tls-ciphers, and write $WORK/inventory.hcl pinning their host keys (or,
// with "knownhosts", trusting $WORK/known_hosts, initially empty).
func cmdFleet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: fleet N [knownhosts]")
	}
	useKnownHosts := len(args) > 1 && args[1] == "knownhosts"
	// "jump": every host but the first is reached through smc-01.
	useJump := len(args) > 1 && args[1] == "jump"
	if useKnownHosts {
		ts.Check(os.WriteFile(ts.MkAbs("known_hosts"), nil, 0o600))
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("fleet: %v", err)
	}
	var inv strings.Builder
	inv.WriteString("defaults {\n  ssh_agent = false\n}\n\ngroup \"odd\" {}\ngroup \"even\" {}\n")
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("smc-%02d", i)
		root := ts.MkAbs(filepath.Join("hosts", name))
		ciphers := filepath.Join(root, "lancope/services/swos-compliance/security/tls-ciphers")
		ts.Check(os.MkdirAll(filepath.Dir(ciphers), 0o755))
		ts.Check(os.WriteFile(ciphers, []byte(defaultCiphers), 0o644))
		keys := ts.MkAbs(filepath.Join("keys", name))
		ts.Check(os.MkdirAll(keys, 0o700))
		srv, err := sshtest.Start(sshtest.Options{WorkDir: root, Dir: keys})
		if err != nil {
			ts.Fatalf("fleet: %v", err)
		}
		ts.Defer(func() { srv.Close() })
		servers(ts)[name] = srv
		trust := fmt.Sprintf("host_keys      = [%q]", strings.TrimSpace(srv.AuthorizedKeyLine()))
		if useJump && i > 1 {
			trust += "\n  jump           = [\"smc-01\"]"
		}
		if useKnownHosts {
			trust = fmt.Sprintf("known_hosts    = %q", ts.MkAbs("known_hosts"))
		}
		fmt.Fprintf(&inv, `
host %q {
  address        = %q
  port           = %d
  user           = "smcfleet"
  identity_files = [%q]
  %s
  groups         = [%q]
  vars = {
    root = %q
  }
}
`, name, srv.Host(), srv.Port(), srv.ClientKeyFile(), trust, map[bool]string{true: "odd", false: "even"}[i%2 == 1], root)
	}
	ts.Check(os.WriteFile(ts.MkAbs("inventory.hcl"), []byte(inv.String()), 0o644))
}

// fault HOST refuse|authrefuse|hostkey|drop N|delay D|off
func cmdFault(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: fault HOST KIND [ARG]")
	}
	srv := servers(ts)[args[0]]
	if srv == nil {
		ts.Fatalf("fault: no host %s", args[0])
	}
	switch args[1] {
	case "refuse":
		srv.Refuse(true)
	case "authrefuse":
		srv.AuthRefuse(true)
	case "hostkey":
		srv.ChangeHostKey(true)
	case "drop":
		n, err := strconv.ParseInt(args[2], 10, 64)
		ts.Check(err)
		srv.DropAfterBytes(n)
	case "delay":
		d, err := time.ParseDuration(args[2])
		ts.Check(err)
		srv.Delay(d)
	case "off":
		srv.Refuse(false)
		srv.AuthRefuse(false)
		srv.ChangeHostKey(false)
		srv.DropAfterBytes(0)
		srv.Delay(0)
	default:
		ts.Fatalf("fault: unknown kind %s", args[1])
	}
}

// sshstats HOST handshakes|sessions|sftp N: assert a server counter.
func cmdStats(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: sshstats HOST COUNTER N")
	}
	srv := servers(ts)[args[0]]
	st := srv.Stats()
	var got int
	switch args[1] {
	case "handshakes":
		got = st.Handshakes
	case "accepted":
		got = st.Accepted
	case "sftp":
		got = st.SFTPSessions
	case "sessions":
		got = st.Sessions
	case "forwards":
		got = st.Forwards
	default:
		ts.Fatalf("sshstats: unknown counter %s", args[1])
	}
	want, err := strconv.Atoi(args[2])
	ts.Check(err)
	if (got == want) == neg {
		ts.Fatalf("sshstats %s %s: got %d, want %s%d", args[0], args[1], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// snapshot DIR FILE: write a listing of every file under DIR with its mode
// and SHA-256, to compare trees before and after a command.
func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: snapshot DIR FILE")
	}
	root := ts.MkAbs(args[0])
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			lines = append(lines, fmt.Sprintf("%s %s/", info.Mode(), rel))
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		lines = append(lines, fmt.Sprintf("%s %s %s", info.Mode(), rel, hex.EncodeToString(sum[:])))
		return nil
	})
	ts.Check(err)
	sort.Strings(lines)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
}

// jsonschema FILE: validate FILE against the report schema.
func cmdJSONSchema(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: jsonschema FILE")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(ts.ReadFile(args[0]))))
	ts.Check(err)
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(runner.ReportSchema))
	ts.Check(err)
	c := jsonschema.NewCompiler()
	ts.Check(c.AddResource("report.v1.json", schemaDoc))
	sch, err := c.Compile("report.v1.json")
	ts.Check(err)
	err = sch.Validate(doc)
	if (err == nil) == neg {
		ts.Fatalf("jsonschema %s: %v", args[0], err)
	}
}

// jsonpath FILE a.b.0.c WANT: assert a value in a JSON document.
func cmdJSONPath(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: jsonpath FILE PATH WANT")
	}
	var v any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &v))
	for _, part := range strings.Split(args[1], ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			i, err := strconv.Atoi(part)
			ts.Check(err)
			if i >= len(x) {
				ts.Fatalf("jsonpath: index %d out of range", i)
			}
			v = x[i]
		default:
			ts.Fatalf("jsonpath: cannot descend into %v at %s", v, part)
		}
	}
	got := fmt.Sprint(v)
	if (got == args[2]) == neg {
		ts.Fatalf("jsonpath %s: got %s, want %s", args[1], got, args[2])
	}
}

// waitfile PATH: wait (at most 30s) until PATH exists.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("waitfile: %s did not appear", args[0])
}

// pidgone FILE: the process whose pid is in FILE ends (within 10s).
func cmdPIDGone(ts *testscript.TestScript, neg bool, args []string) {
	pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(args[0])))
	ts.Check(err)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("pidgone: process %d is still running", pid)
}

// envfile VAR FILE: set VAR to FILE's content, trimmed.
func cmdEnvFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: envfile VAR FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}
