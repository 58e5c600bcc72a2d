// go-tlsclient: a TLS load client that is not Sockeye's, for measuring a TLS server's CPU per
// handshake and per round trip (bench/tls-cpu/run, docs/BENCH.md). Go's crypto/tls, standard library
// only: a full TLS 1.3 handshake costs this client a few hundred µs of CPU, several times less than a
// .NET SslStream client, so on a 2-core machine the server, not the client, is the limit.
//
// Modes:
//
//	churn-full     CONNECTIONS in flight, each looping: connect, full handshake (no session cache, so
//	               the client offers no ticket), one SIZE echo checked, close_notify + FIN, wait for the
//	               server's end, close. One operation per connection.
//	churn-resumed  the same with one shared tls.ClientSessionCache, so every connection after the first
//	               offers the last ticket the server issued and the server resumes (TLS 1.3 psk_dhe_ke:
//	               no certificate, no signature, still an ECDHE exchange). Counted in "resumed".
//	echo           CONNECTIONS connections opened first, then closed-loop SIZE round trips on each.
//
// Before the warm-up one probe connection records the server's first flight (ServerHello or
// HelloRetryRequest) and reports the negotiated version, cipher suite, key exchange group, whether the
// server asked for another key share, and the certificate's key. After WARMUP it measures for DURATION:
// operations completed in the window, their latency, this process's CPU (getrusage) and, with
// -server-pid, the server's utime+stime from /proc/PID/stat (fields 14 and 15, in USER_HZ ticks) over
// the same window, as bench/peers/c-echo/client.c does. Prints one JSON line with the field names of
// `sockeye bench --json` and the c-client, plus the TLS fields.
//
// The server's certificate is not verified (a load generator measures a server; it does not
// authenticate it): never point it at a server whose identity matters. Go still checks the
// handshake's signature with the certificate's key.
//
// usage: go-tlsclient -mode churn-full|churn-resumed|echo -port P [-host 127.0.0.1] [-connections 20]
//
//	[-size 64] [-duration 8s] [-warmup 2s] [-server-pid PID] [-sni NAME]
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// opTimeout bounds every connect, handshake, round trip and close: a stuck server shows as errors.
const opTimeout = 10 * time.Second

// userHz is Linux's USER_HZ, the unit of /proc/PID/stat's times (100 on every architecture Go runs on;
// the standard library has no sysconf).
const userHz = 100

// helloRetryRandom is the ServerHello.random that marks a HelloRetryRequest (RFC 8446, 4.1.3).
var helloRetryRandom = []byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

type result struct {
	Mode                 string  `json:"mode"`
	Client               string  `json:"client"`
	Connections          int     `json:"connections"`
	Size                 int     `json:"size"`
	Seconds              float64 `json:"seconds"`
	Operations           int64   `json:"operations"`
	OpsPerSecond         float64 `json:"opsPerSecond"`
	Errors               int64   `json:"errors"`
	Mismatches           int64   `json:"mismatches"`
	ConnectFailures      int64   `json:"connectFailures"`
	Resumed              int64   `json:"resumed"`
	AllOperations        int64   `json:"allOperations"`
	ClientCPUSeconds     float64 `json:"clientCpuSeconds"`
	ClientCPUMicrosPerOp float64 `json:"clientCpuMicrosecondsPerOp"`
	ServerCPUSeconds     float64 `json:"serverCpuSeconds"`
	ServerCPUMicrosPerOp float64 `json:"serverCpuMicrosecondsPerOp"`
	P50Microseconds      int64   `json:"p50Microseconds"`
	P99Microseconds      int64   `json:"p99Microseconds"`
	P999Microseconds     int64   `json:"p999Microseconds"`
	MaxMicroseconds      int64   `json:"maxMicroseconds"`
	TLSVersion           string  `json:"tlsVersion"`
	CipherSuite          string  `json:"cipherSuite"`
	KeyExchange          string  `json:"keyExchange"`
	HelloRetryRequest    bool    `json:"helloRetryRequest"`
	ServerCertificateKey string  `json:"serverCertificateKey"`
	ProbeResumed         *bool   `json:"probeResumed,omitempty"`
	FirstError           string  `json:"firstError,omitempty"`
}

type client struct {
	mode     string
	address  string
	size     int
	config   *tls.Config
	message  []byte
	from     time.Time // start of the measured window
	until    time.Time // end of the measured window; workers start no operation after it
	counters struct {
		// all and resumed count over the whole run; the window's figures are their differences
		// between the two readings that also read the CPU clocks, so operations and CPU cover the
		// same interval.
		all, resumed, errors, mismatches, connectFailures atomic.Int64
	}
	firstError atomic.Value // string
	latencies  [][]int32    // µs, one slice per worker (no lock on the hot path)
}

func main() {
	mode := flag.String("mode", "churn-full", "churn-full, churn-resumed or echo")
	host := flag.String("host", "127.0.0.1", "server address")
	port := flag.Int("port", 0, "server port")
	connections := flag.Int("connections", 20, "connections in flight (churn) or held (echo)")
	size := flag.Int("size", 64, "bytes per echo")
	duration := flag.Duration("duration", 8*time.Second, "measured window")
	warmup := flag.Duration("warmup", 2*time.Second, "time before the window")
	serverPid := flag.Int("server-pid", 0, "the server's pid, for its CPU over the window (/proc/PID/stat)")
	sni := flag.String("sni", "", "server name to send (none by default)")
	flag.Parse()

	if *mode != "churn-full" && *mode != "churn-resumed" && *mode != "echo" {
		fail(2, "mode %q is not churn-full, churn-resumed or echo", *mode)
	}
	if *port <= 0 || *port > 65535 {
		fail(2, "-port %d is outside 1-65535", *port)
	}
	if *connections < 1 || *connections > 20000 {
		fail(2, "-connections %d is outside 1-20000", *connections)
	}
	if *size < 1 || *size > 1<<20 {
		fail(2, "-size %d is outside 1-1048576", *size)
	}
	if *duration <= 0 || *duration > 10*time.Minute || *warmup < 0 || *warmup > time.Minute {
		fail(2, "-duration must be in (0, 10m] and -warmup in [0, 1m]")
	}

	c := &client{
		mode:    *mode,
		address: net.JoinHostPort(*host, strconv.Itoa(*port)),
		size:    *size,
		config: &tls.Config{
			InsecureSkipVerify: true, // see the header: measured, not authenticated
			ServerName:         *sni,
			MinVersion:         tls.VersionTLS12,
		},
		message: make([]byte, *size),
	}
	for i := range c.message {
		c.message[i] = byte('a' + i%26)
	}
	if *mode == "churn-resumed" {
		c.config.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}

	r := &result{Mode: *mode, Client: "go-tls", Connections: *connections, Size: *size}
	if err := c.probe(r); err != nil {
		fail(1, "probe handshake with %s failed: %v", c.address, err)
	}

	// echo opens its connections before the clock starts: the window holds round trips only.
	var conns []*tls.Conn
	if *mode == "echo" {
		conns = make([]*tls.Conn, *connections)
		for i := range conns {
			conn, err := c.dial()
			if err != nil {
				fail(1, "connection %d of %d: %v", i+1, *connections, err)
			}
			conns[i] = conn
		}
	}
	c.from = time.Now().Add(*warmup)
	c.until = c.from.Add(*duration)
	c.latencies = make([][]int32, *connections)

	var wg sync.WaitGroup
	var window sync.WaitGroup
	window.Add(1)
	go func() { // reads both CPU clocks at the window's edges
		defer window.Done()
		time.Sleep(time.Until(c.from))
		serverBefore, clientBefore := serverCPUSeconds(*serverPid), ownCPUSeconds()
		allBefore, resumedBefore := c.counters.all.Load(), c.counters.resumed.Load()
		from := time.Now()
		time.Sleep(time.Until(c.until))
		r.Operations, r.Resumed = c.counters.all.Load()-allBefore, c.counters.resumed.Load()-resumedBefore
		r.ServerCPUSeconds, r.ClientCPUSeconds = serverCPUSeconds(*serverPid)-serverBefore, ownCPUSeconds()-clientBefore
		r.Seconds = time.Since(from).Seconds()
	}()

	if *mode == "echo" {
		for i := range conns {
			wg.Add(1)
			go func(i int) { defer wg.Done(); c.echoLoop(i, conns[i]) }(i)
		}
	} else {
		for i := 0; i < *connections; i++ {
			wg.Add(1)
			go func(i int) { defer wg.Done(); c.churnLoop(i) }(i)
		}
	}
	window.Wait()
	wg.Wait()

	r.AllOperations = c.counters.all.Load()
	r.Errors = c.counters.errors.Load()
	r.Mismatches = c.counters.mismatches.Load()
	r.ConnectFailures = c.counters.connectFailures.Load()
	if e, ok := c.firstError.Load().(string); ok {
		r.FirstError = e
	}
	if r.Seconds > 0 {
		r.OpsPerSecond = float64(r.Operations) / r.Seconds
	}
	if r.Operations > 0 {
		r.ClientCPUMicrosPerOp = r.ClientCPUSeconds * 1e6 / float64(r.Operations)
		if *serverPid > 0 {
			r.ServerCPUMicrosPerOp = r.ServerCPUSeconds * 1e6 / float64(r.Operations)
		}
	}
	if *serverPid <= 0 {
		r.ServerCPUSeconds = 0
	}
	var all []int32
	for _, l := range c.latencies {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r.P50Microseconds, r.P99Microseconds, r.P999Microseconds = percentile(all, 0.50), percentile(all, 0.99), percentile(all, 0.999)
	if len(all) > 0 {
		r.MaxMicroseconds = int64(all[len(all)-1])
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}

func fail(code int, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go-tlsclient: "+format+"\n", args...)
	os.Exit(code)
}

func percentile(sorted []int32, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)))
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return int64(sorted[i])
}

// dial connects and completes a handshake, within opTimeout.
func (c *client) dial() (*tls.Conn, error) {
	raw, err := net.DialTimeout("tcp", c.address, opTimeout)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, c.config)
	conn.SetDeadline(time.Now().Add(opTimeout))
	if err := conn.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
}

// roundTrip sends the message and reads it back; a wrong byte is a mismatch.
func (c *client) roundTrip(conn *tls.Conn, reply []byte) (mismatch bool, err error) {
	if _, err := conn.Write(c.message); err != nil {
		return false, err
	}
	if _, err := io.ReadFull(conn, reply); err != nil {
		return false, err
	}
	return !bytes.Equal(reply, c.message), nil
}

// closeGracefully sends close_notify and the FIN, then waits for the server's end (its close_notify or
// FIN), as `sockeye bench churn --tls` does.
func closeGracefully(conn *tls.Conn) error {
	defer conn.Close()
	if err := conn.CloseWrite(); err != nil { // close_notify
		return err
	}
	if tcp, ok := conn.NetConn().(*net.TCPConn); ok {
		tcp.CloseWrite() // FIN
	}
	var rest [256]byte
	for {
		if _, err := conn.Read(rest[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func (c *client) recordError(err error) {
	c.counters.errors.Add(1)
	c.firstError.CompareAndSwap(nil, err.Error())
}

// completed counts an operation; its latency is kept when it ended inside the window.
func (c *client) completed(started, t time.Time, worker int, resumed bool) {
	if resumed {
		c.counters.resumed.Add(1)
	}
	c.counters.all.Add(1)
	if !t.Before(c.from) && t.Before(c.until) {
		c.latencies[worker] = append(c.latencies[worker], int32(t.Sub(started)/time.Microsecond))
	}
}

func (c *client) churnLoop(worker int) {
	reply := make([]byte, c.size)
	for time.Now().Before(c.until) {
		started := time.Now()
		conn, err := c.dial()
		if err != nil {
			c.counters.connectFailures.Add(1)
			c.recordError(err)
			time.Sleep(time.Millisecond) // no hot loop against a server that refuses
			continue
		}
		resumed := conn.ConnectionState().DidResume
		mismatch, err := c.roundTrip(conn, reply)
		if err != nil {
			conn.Close()
			c.recordError(err)
			continue
		}
		if err := closeGracefully(conn); err != nil {
			c.recordError(err)
			continue
		}
		if mismatch {
			c.counters.mismatches.Add(1)
			continue
		}
		c.completed(started, time.Now(), worker, resumed)
	}
}

func (c *client) echoLoop(worker int, conn *tls.Conn) {
	reply := make([]byte, c.size)
	// One deadline for the run (a deadline per round trip would cost this client a timer each).
	conn.SetDeadline(c.until.Add(opTimeout))
	defer func() { conn.Close() }()
	for time.Now().Before(c.until) {
		started := time.Now()
		mismatch, err := c.roundTrip(conn, reply)
		if err != nil {
			c.recordError(err)
			conn.Close()
			if conn, err = c.dial(); err != nil {
				c.counters.connectFailures.Add(1)
				return
			}
			conn.SetDeadline(c.until.Add(opTimeout))
			continue
		}
		if mismatch {
			c.counters.mismatches.Add(1)
			continue
		}
		c.completed(started, time.Now(), worker, false)
	}
}

// probe runs one connection whose first bytes from the server are kept, and reports what the
// handshake settled. In churn-resumed it also primes the session cache and checks that a second
// connection resumes.
func (c *client) probe(r *result) error {
	raw, err := net.DialTimeout("tcp", c.address, opTimeout)
	if err != nil {
		return err
	}
	recorder := &recordingConn{Conn: raw}
	conn := tls.Client(recorder, c.config)
	conn.SetDeadline(time.Now().Add(opTimeout))
	if err := conn.Handshake(); err != nil {
		raw.Close()
		return err
	}
	state := conn.ConnectionState()
	r.TLSVersion = versionName(state.Version)
	r.CipherSuite = tls.CipherSuiteName(state.CipherSuite)
	if len(state.PeerCertificates) > 0 {
		r.ServerCertificateKey = keyName(state.PeerCertificates[0].PublicKey)
	}
	r.KeyExchange, r.HelloRetryRequest = parseServerHello(recorder.first.Bytes())
	reply := make([]byte, c.size)
	if _, err := c.roundTrip(conn, reply); err != nil { // also takes the tickets
		conn.Close()
		return err
	}
	if err := closeGracefully(conn); err != nil {
		return err
	}
	if c.mode == "churn-resumed" {
		second, err := c.dial()
		if err != nil {
			return err
		}
		resumed := second.ConnectionState().DidResume
		r.ProbeResumed = &resumed
		if _, err := c.roundTrip(second, reply); err != nil {
			second.Close()
			return err
		}
		if err := closeGracefully(second); err != nil {
			return err
		}
	}
	return nil
}

// recordingConn keeps the first bytes the server sends (its first flight).
type recordingConn struct {
	net.Conn
	first bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.first.Len() < 16384 {
		c.first.Write(p[:n])
	}
	return n, err
}

// parseServerHello reads the first TLS record's ServerHello: the key_share extension names the group
// (TLS 1.3); a HelloRetryRequest names the group the server wants instead. TLS 1.2 carries the group in
// ServerKeyExchange, which is not parsed here ("TLS 1.2: see ServerKeyExchange").
func parseServerHello(b []byte) (group string, retry bool) {
	if len(b) < 5 || b[0] != 22 {
		return "unknown (first record is not a handshake)", false
	}
	body := b[5:]
	if len(body) < 4 || body[0] != 2 {
		return "unknown (first message is not a ServerHello)", false
	}
	length := int(body[1])<<16 | int(body[2])<<8 | int(body[3])
	hello := body[4:]
	if len(hello) < length || length < 38 {
		return "unknown (ServerHello is split over records)", false
	}
	hello = hello[:length]
	retry = bytes.Equal(hello[2:34], helloRetryRandom)
	p := 34
	p += 1 + int(hello[p]) // session id
	p += 2 + 1             // cipher suite, compression
	if p+2 > len(hello) {
		return "none (no extensions)", retry
	}
	extensions := hello[p+2:]
	for len(extensions) >= 4 {
		kind := binary.BigEndian.Uint16(extensions)
		size := int(binary.BigEndian.Uint16(extensions[2:]))
		if len(extensions) < 4+size {
			break
		}
		if kind == 51 && size >= 2 { // key_share: the selected group first, in ServerHello and HRR alike
			return groupName(binary.BigEndian.Uint16(extensions[4:])), retry
		}
		extensions = extensions[4+size:]
	}
	return "TLS 1.2: see ServerKeyExchange", retry
}

func groupName(id uint16) string {
	switch tls.CurveID(id) {
	case tls.X25519:
		return "X25519"
	case tls.CurveP256:
		return "P-256"
	case tls.CurveP384:
		return "P-384"
	case tls.CurveP521:
		return "P-521"
	}
	return fmt.Sprintf("group 0x%04x", id)
}

func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLS 1.3"
	case tls.VersionTLS12:
		return "TLS 1.2"
	}
	return fmt.Sprintf("0x%04x", v)
}

func keyName(key interface{}) string {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", key)
}

// serverCPUSeconds is utime+stime of pid (fields 14 and 15 of /proc/PID/stat), or 0 without a pid.
func serverCPUSeconds(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	end := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if end < 0 {
		return 0
	}
	fields := strings.Fields(s[end+1:]) // fields[0] is field 3 (state)
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseUint(fields[11], 10, 64)
	stime, _ := strconv.ParseUint(fields[12], 10, 64)
	return float64(utime+stime) / userHz
}

func ownCPUSeconds() float64 {
	var u syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return float64(u.Utime.Sec) + float64(u.Utime.Usec)/1e6 + float64(u.Stime.Sec) + float64(u.Stime.Usec)/1e6
}
