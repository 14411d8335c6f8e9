package tlsgrab_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smcfleet/smcfleet/internal/lab/labca"
	"github.com/smcfleet/smcfleet/internal/lab/ses"
	"github.com/smcfleet/smcfleet/internal/tlsgrab"
)

func TestGrabSES(t *testing.T) {
	chain, err := labca.NewSESChain(labca.Options{Region: "us-east-1", CrossSigned: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ses.Start(ses.Options{Chain: chain})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tt := range []struct {
		addr, starttls string
	}{{srv.STARTTLSAddr(), "smtp"}, {srv.SMTPSAddr(), ""}} {
		conn, err := net.Dial("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		res, err := tlsgrab.Grab(ctx, conn, tt.starttls, chain.EndpointName())
		if err != nil {
			t.Fatalf("%s starttls=%q: %v", tt.addr, tt.starttls, err)
		}
		if len(res.Certificates) != 3 || res.Certificates[0].Subject.CommonName != chain.EndpointName() {
			t.Errorf("starttls=%q: got %d certificates (first %v), want leaf, intermediate and cross-signed root", tt.starttls, len(res.Certificates), res.Certificates[0].Subject)
		}
		if tt.starttls == "smtp" && !strings.HasPrefix(res.Greeting, "220 ") {
			t.Errorf("greeting: got %q", res.Greeting)
		}
	}
}

// TestStartTLSRefused: a server that does not offer STARTTLS.
func TestStartTLSRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("220 plain ESMTP\r\n"))
		buf := make([]byte, 512)
		c.Read(buf)
		c.Write([]byte("250-plain\r\n250 8BITMIME\r\n"))
		c.Read(buf)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = tlsgrab.Grab(context.Background(), conn, "smtp", "x")
	if err == nil || !strings.Contains(err.Error(), "STARTTLS refused") {
		t.Errorf("got %v, want STARTTLS refused", err)
	}
}
