// go-echo: the classic Go echo server Sockeye is measured against. net.Listen, Accept in a loop
// with net/http's back-off on temporary errors, one goroutine per connection, a 4 KiB buffer, a
// read deadline. With -tls-cert and -tls-key, the same server behind crypto/tls (TLS 1.2 and 1.3,
// Go's defaults otherwise), for comparing idle TLS memory (docs/SECURITY.md).
//
// usage: go-echo [-port 7002] [-tls-cert cert.pem -tls-key key.pem]
//
//	prints "listening on 127.0.0.1:PORT", runs until killed.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

// idleTimeout is longer than any benchmark holds an idle connection.
const idleTimeout = 5 * time.Minute

func main() {
	port := flag.Int("port", 7002, "port to listen on (127.0.0.1)")
	certFile := flag.String("tls-cert", "", "PEM certificate (chain): serve TLS instead of plain TCP")
	keyFile := flag.String("tls-key", "", "PEM private key of -tls-cert")
	flag.Parse()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-echo:", err)
		os.Exit(1)
	}
	if *certFile != "" || *keyFile != "" {
		if ln, err = listenTLS(ln, *certFile, *keyFile); err != nil {
			fmt.Fprintln(os.Stderr, "go-echo:", err)
			os.Exit(1)
		}
	}
	fmt.Println("listening on", ln.Addr())
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				if delay == 0 {
					delay = 5 * time.Millisecond
				} else if delay *= 2; delay > time.Second {
					delay = time.Second
				}
				time.Sleep(delay)
				continue
			}
			fmt.Fprintln(os.Stderr, "go-echo: accept:", err)
			os.Exit(1)
		}
		delay = 0
		go handle(conn)
	}
}

// listenTLS wraps ln so that every accepted connection is a *tls.Conn; the handshake runs on the
// connection's goroutine at its first Read, as in net/http.
func listenTLS(ln net.Listener, certFile, keyFile string) (net.Listener, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("-tls-cert and -tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}), nil
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

func handle(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 4096)
	for {
		conn.SetReadDeadline(time.Now().Add(idleTimeout))
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		if _, err := conn.Write(buf[:n]); err != nil {
			return
		}
	}
}
