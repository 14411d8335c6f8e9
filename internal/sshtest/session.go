package sshtest

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE,
	"HUP": syscall.SIGHUP, "ILL": syscall.SIGILL, "INT": syscall.SIGINT,
	"KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE, "QUIT": syscall.SIGQUIT,
	"SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

func signalName(sig syscall.Signal) string {
	for name, s := range signals {
		if s == sig {
			return name
		}
	}
	return "KILL"
}

// serveSession handles one "session" channel: env, exec, subsystem sftp
// and signal requests. Only one exec or subsystem runs per session, as in
// OpenSSH.
func (s *Server) serveSession(conn net.Conn, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var env []string
	sigs := make(chan string, 4)
	var started bool
	var wg sync.WaitGroup
	defer wg.Wait()
	// The session ends when the client closes the channel (reqs closes) or
	// the program ends; either way the running program must stop.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()

	for req := range reqs {
		s.sleep()
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			if ssh.Unmarshal(req.Payload, &kv) == nil {
				env = append(env, kv.Name+"="+kv.Value)
			}
			req.Reply(true, nil)
		case "signal":
			var msg struct{ Signal string }
			if ssh.Unmarshal(req.Payload, &msg) == nil {
				s.count(func(st *Stats) { st.Signals = append(st.Signals, msg.Signal) })
				select {
				case sigs <- msg.Signal:
				default:
				}
			}
			req.Reply(true, nil)
		case "exec":
			var msg struct{ Command string }
			if started || ssh.Unmarshal(req.Payload, &msg) != nil {
				req.Reply(false, nil)
				continue
			}
			started = true
			s.count(func(st *Stats) { st.Execs = append(st.Execs, msg.Command) })
			req.Reply(true, nil)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer cancel()
				s.runExec(ctx, ch, msg.Command, env, sigs)
				ch.Close()
			}()
		case "subsystem":
			var msg struct{ Name string }
			if started || ssh.Unmarshal(req.Payload, &msg) != nil || msg.Name != "sftp" {
				req.Reply(false, nil)
				continue
			}
			started = true
			s.count(func(st *Stats) { st.SFTPSessions++ })
			req.Reply(true, nil)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer cancel()
				s.serveSFTP(ctx, conn, ch)
				ch.Close()
			}()
		default:
			req.Reply(false, nil)
		}
	}
	cancel()
}

type exitStatus struct{ Status uint32 }

type exitSignal struct {
	Signal     string
	CoreDumped bool
	Error      string
	Lang       string
}

func (s *Server) runExec(ctx context.Context, ch ssh.Channel, command string, env []string, sigs <-chan string) {
	if h := s.opts.Exec; h != nil {
		hctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-sigs:
				cancel()
			case <-hctx.Done():
			}
		}()
		code := h(hctx, command, ch, ch, ch.Stderr())
		ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{uint32(code)}))
		return
	}

	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir = s.opts.WorkDir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	// Own process group, so a signal reaches the shell's children too
	// (`sleep 30; touch x` must not touch x after TERM).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{127}))
		return
	}
	if err := cmd.Start(); err != nil {
		io.WriteString(ch.Stderr(), err.Error()+"\n")
		ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{127}))
		return
	}
	// Copy stdin ourselves: exec.Cmd would otherwise wait for the client to
	// close stdin before Wait returns.
	go func() {
		io.Copy(stdin, ch)
		stdin.Close()
	}()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case name := <-sigs:
				if sig, ok := signals[name]; ok {
					syscall.Kill(-cmd.Process.Pid, sig)
				}
			case <-ctx.Done():
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				return
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var ee *exec.ExitError
	switch {
	case err == nil:
		ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{0}))
	case errors.As(err, &ee):
		ws, _ := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			ch.SendRequest("exit-signal", false, ssh.Marshal(exitSignal{Signal: signalName(ws.Signal())}))
			return
		}
		ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{uint32(ws.ExitStatus())}))
	default:
		ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{255}))
	}
}

func (s *Server) serveSFTP(ctx context.Context, conn net.Conn, ch ssh.Channel) {
	h, err := newFileHandler(s.opts.Root, s.opts.DisableSFTP)
	if err == nil {
		h.diskFull = &s.diskFull
		h.onRequest = func() { s.count(func(st *Stats) { st.SFTPRequests++ }) }
	}
	if err != nil {
		io.WriteString(ch.Stderr(), err.Error())
		return
	}
	defer h.close()
	rw := &dropRW{Channel: ch, srv: s, conn: conn}
	start := "/"
	if s.opts.Root == "" && s.opts.WorkDir != "" {
		start = s.opts.WorkDir
	}
	rs := sftp.NewRequestServer(rw, h.handlers(), sftp.WithStartDirectory(start))
	stop := context.AfterFunc(ctx, func() { rs.Close() })
	defer stop()
	rs.Serve()
	rs.Close()
}

// dropRW counts bytes read from the client and kills the TCP connection
// when the DropAfterBytes knob says so, to simulate a link lost mid-transfer.
type dropRW struct {
	ssh.Channel
	srv  *Server
	conn net.Conn
	knob *dropKnob
	n    int64
}

func (d *dropRW) Read(p []byte) (int, error) {
	n, err := d.Channel.Read(p)
	knob := d.srv.drop.Load()
	if knob != d.knob {
		d.knob, d.n = knob, 0
	}
	if knob == nil {
		return n, err
	}
	d.n += int64(n)
	if d.n >= knob.after {
		d.conn.Close()
		return 0, io.ErrUnexpectedEOF
	}
	return n, err
}
