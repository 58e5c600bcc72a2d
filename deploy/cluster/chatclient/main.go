// chatclient: the client host of deploy/cluster/run. It holds many chat connections through the load
// balancer (the line protocol of docs/CHAT.md), learns from WHOAMI which instance each one reached and
// which client address that instance saw (from the PROXY v2 header), and measures delivery:
// same-instance and cross-instance latency, published vs delivered, lost and duplicated lines.
//
// It is driven by the script, one command per line on stdin, and answers each with one JSON line on
// stdout (errors go to stderr):
//
//	connect                 open every client: WHOAMI, NICK, JOIN its room
//	steady SECONDS RATE     publish RATE messages/s over random members for SECONDS, then wait for them
//	churn start WORKERS     WORKERS loops of new connection -> WHOAMI -> QUIT through the balancer
//	churn stop              stop them and report
//	status                  connections held now, per instance; reconnections so far
//	quit                    close everything and exit
//
// Rooms belong to one process (their names start with -prefix), so the sender and every receiver of a
// message are in this process and one monotonic clock times it. A held connection that ends (an
// instance drains during a rolling restart) is opened again through the balancer and rejoins.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	lbAddr      = flag.String("lb", "", "the load balancer's address (host:port)")
	sourceIP    = flag.String("source", "", "local address to connect from (empty: any)")
	clientCount = flag.Int("clients", 100, "connections to hold")
	roomSize    = flag.Int("room-size", 10, "members per room")
	prefix      = flag.String("prefix", "p1", "prefix of this process's nicks and rooms")
	backplane   = flag.Bool("backplane", false, "expect messages to reach members on other instances too")
	parallel    = flag.Int("parallel", 200, "connections opened at once")
	opTimeout   = flag.Duration("timeout", 20*time.Second, "longest wait for one connection's handshake")
	jitter      = flag.Duration("reconnect-jitter", time.Second, "a dropped connection waits a random time up to this before it reconnects")
)

var base = time.Now()

func now() int64 { return int64(time.Since(base)) }

// client is one held connection. mu guards conn and w (the publisher and a reconnection may race).
type client struct {
	id       int
	room     int
	nick     string
	mu       sync.Mutex
	conn     net.Conn
	w        *bufio.Writer
	instance atomic.Value // string: the instance's own address, from WHOAMI
	joined   atomic.Bool
}

func (c *client) inst() string {
	if v, ok := c.instance.Load().(string); ok {
		return v
	}
	return ""
}

// message is one published line and what it should reach.
type message struct {
	sender         string
	sentAt         int64
	expected       int32
	expectedCross  int32
	delivered      atomic.Int32
	deliveredCross atomic.Int32
}

type run struct {
	mu         sync.RWMutex
	messages   []*message
	sameLat    []int64 // microseconds
	crossLat   []int64
	unexpected atomic.Int64 // lines that matched no message of this run, or a cross line without a backplane
}

var (
	clients        []*client
	rooms          [][]*client
	current        atomic.Pointer[run]
	quitting       atomic.Bool
	reconnectsOK   atomic.Int64
	reconnectsFail atomic.Int64
	proxyBad       atomic.Int64
	proxyOK        atomic.Int64
	proxyExamples  sync.Map
	errLines       atomic.Int64
	dialer         net.Dialer
)

func main() {
	flag.Parse()
	if *lbAddr == "" {
		fmt.Fprintln(os.Stderr, "chatclient: -lb is required")
		os.Exit(2)
	}
	if *sourceIP != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(*sourceIP)}
	}
	dialer.Timeout = *opTimeout
	for i := 0; i < *clientCount; i++ {
		c := &client{id: i, room: i / *roomSize, nick: fmt.Sprintf("%sc%d", *prefix, i)}
		clients = append(clients, c)
		if c.room == len(rooms) {
			rooms = append(rooms, nil)
		}
		rooms[c.room] = append(rooms[c.room], c)
	}

	out := json.NewEncoder(os.Stdout)
	in := bufio.NewScanner(os.Stdin)
	var churn *churner
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		var reply map[string]any
		switch {
		case f[0] == "connect":
			reply = connectAll()
		case f[0] == "steady" && len(f) == 3:
			seconds, _ := strconv.ParseFloat(f[1], 64)
			rate, _ := strconv.ParseFloat(f[2], 64)
			reply = steady(time.Duration(seconds*float64(time.Second)), rate)
		case f[0] == "churn" && len(f) == 3 && f[1] == "start":
			workers, _ := strconv.Atoi(f[2])
			churn = startChurn(workers)
			reply = map[string]any{"op": "churn start", "workers": workers}
		case f[0] == "churn" && f[1] == "stop" && churn != nil:
			reply = churn.stop()
			churn = nil
		case f[0] == "status":
			reply = status()
		case f[0] == "quit":
			quitting.Store(true)
			for _, c := range clients {
				c.mu.Lock()
				if c.conn != nil {
					c.conn.Close()
				}
				c.mu.Unlock()
			}
			out.Encode(map[string]any{"op": "quit"})
			return
		default:
			reply = map[string]any{"op": f[0], "error": "unknown command " + in.Text()}
		}
		out.Encode(reply)
	}
}

// handshake opens one connection through the balancer and runs WHOAMI (and, for a held client, NICK
// and JOIN), checking that the instance saw this connection's own address and port.
func handshake(nick string, room string) (net.Conn, *bufio.Reader, string, error) {
	conn, err := dialer.Dial("tcp", *lbAddr)
	if err != nil {
		return nil, nil, "", err
	}
	conn.SetDeadline(time.Now().Add(*opTimeout))
	script := "WHOAMI\n"
	want := 1
	if nick != "" {
		script += "NICK " + nick + "\nJOIN " + room + "\n"
		want = 3
	} else {
		script += "QUIT\n"
		want = 2
	}
	if _, err := conn.Write([]byte(script)); err != nil {
		conn.Close()
		return nil, nil, "", err
	}
	r := bufio.NewReader(conn)
	instance := ""
	for i := 0; i < want; i++ {
		line, err := r.ReadString('\n')
		if err != nil {
			conn.Close()
			return nil, nil, "", fmt.Errorf("after %d of %d replies: %w", i, want, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if i == 0 {
			f := strings.Fields(line)
			if len(f) != 4 || f[0] != "OK" || f[1] != "WHOAMI" {
				conn.Close()
				return nil, nil, "", fmt.Errorf("WHOAMI answered %q", line)
			}
			instance = f[3]
			if f[2] == conn.LocalAddr().String() {
				proxyOK.Add(1)
			} else {
				proxyBad.Add(1)
				proxyExamples.Store(f[2], conn.LocalAddr().String())
			}
		} else if !strings.HasPrefix(line, "OK ") {
			conn.Close()
			return nil, nil, "", fmt.Errorf("answered %q", line)
		}
	}
	conn.SetDeadline(time.Time{})
	return conn, r, instance, nil
}

func (c *client) open() error {
	conn, r, instance, err := handshake(c.nick, roomName(c.room))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.conn = conn
	c.w = bufio.NewWriter(conn)
	c.instance.Store(instance)
	c.joined.Store(true)
	c.mu.Unlock()
	go c.read(conn, r)
	return nil
}

func roomName(room int) string { return fmt.Sprintf("%sr%d", *prefix, room) }

// read takes the room's lines ("<room> <nick>: <id> <sentAt>") until the connection ends, then opens
// it again through the balancer unless the process is quitting.
func (c *client) read(conn net.Conn, r *bufio.Reader) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		deliver(c, strings.TrimRight(line, "\r\n"))
	}
	c.joined.Store(false)
	conn.Close()
	if quitting.Load() {
		return
	}
	// Spread the reconnections of an instance's clients over the jitter, as well-behaved clients do,
	// instead of all of them in the same millisecond.
	time.Sleep(time.Duration(rand.Int63n(int64(*jitter) + 1)))
	delay := 50 * time.Millisecond
	for !quitting.Load() {
		if err := c.open(); err == nil {
			reconnectsOK.Add(1)
			return
		} else {
			reconnectsFail.Add(1)
			fmt.Fprintf(os.Stderr, "chatclient: %s: reconnect failed: %v\n", c.nick, err)
		}
		time.Sleep(delay)
		if delay < time.Second {
			delay *= 2
		}
	}
}

func deliver(c *client, line string) {
	if strings.HasPrefix(line, "OK ") || strings.HasPrefix(line, "ERR ") {
		if strings.HasPrefix(line, "ERR ") {
			errLines.Add(1)
			fmt.Fprintf(os.Stderr, "chatclient: %s: %s\n", c.nick, line)
		}
		return
	}
	at := now()
	ru := current.Load()
	colon := strings.Index(line, ": ")
	if ru == nil || colon < 0 {
		return
	}
	f := strings.Fields(line[colon+2:])
	if len(f) != 2 {
		ru.unexpected.Add(1)
		return
	}
	id, err1 := strconv.Atoi(f[0])
	ru.mu.RLock()
	if err1 != nil || id < 0 || id >= len(ru.messages) {
		ru.mu.RUnlock()
		ru.unexpected.Add(1)
		return
	}
	m := ru.messages[id]
	ru.mu.RUnlock()
	micros := (at - m.sentAt) / 1000
	cross := m.sender != c.inst()
	if cross && !*backplane {
		ru.unexpected.Add(1)
	}
	m.delivered.Add(1)
	ru.mu.Lock()
	if cross {
		m.deliveredCross.Add(1)
		ru.crossLat = append(ru.crossLat, micros)
	} else {
		ru.sameLat = append(ru.sameLat, micros)
	}
	ru.mu.Unlock()
}

func connectAll() map[string]any {
	start := time.Now()
	sem := make(chan struct{}, *parallel)
	var failed atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for _, c := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func(c *client) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.open(); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}(c)
	}
	wg.Wait()
	reply := status()
	reply["op"] = "connect"
	reply["failed"] = failed.Load()
	reply["seconds"] = time.Since(start).Seconds()
	if e := firstErr.Load(); e != nil {
		reply["first_error"] = e
	}
	return reply
}

func status() map[string]any {
	byInstance := map[string]int{}
	held := 0
	for _, c := range clients {
		if c.joined.Load() {
			held++
			byInstance[c.inst()]++
		}
	}
	examples := map[string]string{}
	proxyExamples.Range(func(k, v any) bool {
		if len(examples) < 5 {
			examples[k.(string)] = v.(string)
		}
		return true
	})
	return map[string]any{
		"op": "status", "held": held, "by_instance": byInstance,
		"proxy_ok": proxyOK.Load(), "proxy_bad": proxyBad.Load(), "proxy_bad_examples": examples,
		"reconnects_ok": reconnectsOK.Load(), "reconnect_attempts_failed": reconnectsFail.Load(),
		"err_lines": errLines.Load(),
	}
}

// steady publishes rate messages per second for d, each from a random held member to its room, and
// then waits (at most 10 s) until every message has reached every member it should have.
func steady(d time.Duration, rate float64) map[string]any {
	ru := &run{}
	current.Store(ru)
	start := now()
	interval := time.Duration(float64(time.Second) / rate)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	sendFailed := 0
	for k := 0; ; k++ {
		due := base.Add(time.Duration(start) + time.Duration(k)*interval)
		if time.Duration(now()-start) >= d {
			break
		}
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		sender := clients[rng.Intn(len(clients))]
		if !sender.joined.Load() {
			continue
		}
		m := &message{sender: sender.inst()}
		for _, member := range rooms[sender.room] {
			if member == sender || !member.joined.Load() {
				continue
			}
			cross := member.inst() != m.sender
			if cross && !*backplane {
				continue
			}
			m.expected++
			if cross {
				m.expectedCross++
			}
		}
		ru.mu.Lock()
		id := len(ru.messages)
		ru.messages = append(ru.messages, m)
		ru.mu.Unlock()
		m.sentAt = now()
		sender.mu.Lock()
		_, err := fmt.Fprintf(sender.w, "MSG %s %d %d\n", roomName(sender.room), id, m.sentAt)
		if err == nil {
			err = sender.w.Flush()
		}
		sender.mu.Unlock()
		if err != nil {
			sendFailed++
			m.expected, m.expectedCross = 0, 0
		}
	}
	sentFor := time.Duration(now() - start)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !complete(ru) {
		time.Sleep(50 * time.Millisecond)
	}
	current.Store(nil)
	return report(ru, start, sentFor, sendFailed)
}

func complete(ru *run) bool {
	ru.mu.RLock()
	defer ru.mu.RUnlock()
	for _, m := range ru.messages {
		if m.delivered.Load() < m.expected {
			return false
		}
	}
	return true
}

func report(ru *run, start int64, sentFor time.Duration, sendFailed int) map[string]any {
	ru.mu.Lock()
	defer ru.mu.Unlock()
	var expected, delivered, expCross, delCross, lost, lostCross, lostCrossMessages, dup int64
	const bucket = int64(100 * time.Millisecond)
	var buckets [][3]int64 // [ms since start, cross expected, cross delivered]
	for _, m := range ru.messages {
		e, dl, ec, dc := int64(m.expected), int64(m.delivered.Load()), int64(m.expectedCross), int64(m.deliveredCross.Load())
		expected += e
		delivered += dl
		expCross += ec
		delCross += dc
		if dl < e {
			lost += e - dl
		} else {
			dup += dl - e
		}
		if dc < ec {
			lostCross += ec - dc
			lostCrossMessages++
		}
		b := int((m.sentAt - start) / bucket)
		for len(buckets) <= b {
			buckets = append(buckets, [3]int64{int64(len(buckets)) * bucket / int64(time.Millisecond), 0, 0})
		}
		buckets[b][1] += ec
		buckets[b][2] += min64(dc, ec)
	}
	return map[string]any{
		"op": "steady", "published": len(ru.messages), "send_failed": sendFailed, "seconds": sentFor.Seconds(),
		"expected": expected, "delivered": delivered, "lost": lost, "duplicates": dup,
		"expected_cross": expCross, "delivered_cross": delCross, "lost_cross": lostCross,
		"lost_cross_messages": lostCrossMessages,
		"unexpected":          ru.unexpected.Load(),
		"same_us":             percentiles(ru.sameLat),
		"cross_us":            percentiles(ru.crossLat),
		"buckets":             buckets,
	}
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

func percentiles(v []int64) map[string]any {
	if len(v) == 0 {
		return map[string]any{"n": 0}
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	at := func(p float64) int64 { return v[int(p*float64(len(v)-1))] }
	return map[string]any{"n": len(v), "p50": at(0.50), "p99": at(0.99), "max": v[len(v)-1]}
}

// churner runs new short connections through the balancer: each one must get its WHOAMI answered
// (so an instance really served it) and its QUIT acknowledged.
type churner struct {
	done    chan struct{}
	wg      sync.WaitGroup
	ok      atomic.Int64
	failed  atomic.Int64
	mu      sync.Mutex
	errs    map[string]int
	latency []int64
	byInst  map[string]int
}

func startChurn(workers int) *churner {
	ch := &churner{done: make(chan struct{}), errs: map[string]int{}, byInst: map[string]int{}}
	for i := 0; i < workers; i++ {
		ch.wg.Add(1)
		go func() {
			defer ch.wg.Done()
			for {
				select {
				case <-ch.done:
					return
				default:
				}
				began := now()
				conn, _, instance, err := handshake("", "")
				took := (now() - began) / 1000
				ch.mu.Lock()
				if err != nil {
					ch.failed.Add(1)
					msg := err.Error()
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						msg = "timeout: " + msg
					}
					if len(ch.errs) < 20 {
						ch.errs[msg]++
					}
					fmt.Fprintf(os.Stderr, "chatclient: churn connection failed: %v\n", err)
				} else {
					ch.ok.Add(1)
					ch.byInst[instance]++
					ch.latency = append(ch.latency, took)
					conn.Close()
				}
				ch.mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	return ch
}

func (ch *churner) stop() map[string]any {
	close(ch.done)
	ch.wg.Wait()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return map[string]any{
		"op": "churn stop", "ok": ch.ok.Load(), "failed": ch.failed.Load(), "errors": ch.errs,
		"by_instance": ch.byInst, "handshake_us": percentiles(ch.latency),
		"reconnects_ok": reconnectsOK.Load(), "reconnect_attempts_failed": reconnectsFail.Load(),
	}
}
