package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/smcfleet/smcfleet/internal/sshconn"
	"github.com/smcfleet/smcfleet/inventory"
	"github.com/smcfleet/smcfleet/runner"
)

// passphraseEnv holds the passphrase of encrypted identity files for
// unattended runs; on a terminal smcfleet asks once per key file instead.
const passphraseEnv = "SMCFLEET_SSH_PASSPHRASE"

// newDialer returns how the run connects to a host: one SSH connection,
// through the host's jump hosts, with host keys verified.
func newDialer(c *cli.Context, inv *inventory.Inventory) func(ctx context.Context, t runner.Target) (runner.Conn, error) {
	acceptNew := c.Bool("accept-new")
	connectTimeout := c.Duration("connect-timeout")
	passphrase := sshconn.PassphraseFromEnvOrTerminal(passphraseEnv)
	return func(ctx context.Context, t runner.Target) (runner.Conn, error) {
		h, ok := t.Data.(*inventory.Host)
		if !ok {
			return nil, fmt.Errorf("%s: no inventory entry", t.Name)
		}
		cfg := sshConfig(h, acceptNew, connectTimeout, passphrase)
		hops, err := inv.JumpChain(h)
		if err != nil {
			return nil, err
		}
		for _, hop := range hops {
			cfg.Jump = append(cfg.Jump, sshConfig(hop, acceptNew, connectTimeout, passphrase))
		}
		client, err := sshconn.Dial(ctx, cfg)
		if err != nil {
			// Never wrap a nil *Client in the interface.
			return nil, err
		}
		return client, nil
	}
}

func sshConfig(h *inventory.Host, acceptNew bool, connectTimeout time.Duration, passphrase func(string) ([]byte, error)) sshconn.Config {
	timeout := connectTimeout
	if h.ConnectTimeout > 0 {
		timeout = h.ConnectTimeout
	}
	return sshconn.Config{
		Name:           h.Name,
		Address:        h.Address,
		Port:           h.Port,
		User:           h.User,
		IdentityFiles:  h.IdentityFiles,
		UseAgent:       h.SSHAgent,
		Password:       h.Password,
		KnownHostsFile: h.KnownHosts,
		HostKeys:       h.HostKeys,
		AcceptNew:      acceptNew,
		ConnectTimeout: timeout,
		PassphraseFunc: passphrase,
	}
}

// controllerDialer dials from the controller, with curl-style overrides
// HOST:PORT:ADDRESS (the lab's simulated SES, or an endpoint seen through a
// NAT): the TLS name stays HOST, only the connection goes to ADDRESS.
func controllerDialer(rules []string) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	override := map[string]string{}
	for _, r := range rules {
		for _, rule := range strings.FieldsFunc(r, func(c rune) bool { return c == ',' || c == ' ' || c == '\n' }) {
			host, rest, ok1 := strings.Cut(rule, ":")
			port, target, ok2 := strings.Cut(rest, ":")
			if !ok1 || !ok2 || host == "" || port == "" || target == "" {
				return nil, fmt.Errorf("%q is not HOST:PORT:ADDRESS[:PORT]", rule)
			}
			if _, _, err := net.SplitHostPort(target); err != nil {
				target = net.JoinHostPort(target, port)
			}
			override[strings.ToLower(net.JoinHostPort(host, port))] = target
		}
	}
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := override[strings.ToLower(addr)]; ok {
			addr = to
		}
		return d.DialContext(ctx, network, addr)
	}, nil
}
