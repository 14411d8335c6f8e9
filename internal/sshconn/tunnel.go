package sshconn

import (
	"context"
	"fmt"
	"net"
)

// DialContext opens a TCP connection from the host's side, through this SSH
// connection (a direct-tcpip channel, like ssh -W): the peer sees the
// Manager's address and the Manager resolves the name. No new SSH
// connection is made.
func (c *Client) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("tunnel: network %q not supported", network)
	}
	conn, err := c.ssh.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("tunnel to %s through %s: %w", addr, c.cfg.label(), err)
	}
	return conn, nil
}
