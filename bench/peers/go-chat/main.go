// go-chat: the chat line protocol of docs/CHAT.md written the idiomatic Go way, as the reference
// Sockeye's fan-out is measured against. net.Listen, Accept in a loop with net/http's back-off on
// temporary errors, one goroutine per connection reading lines (bufio.Scanner limited to the maximum
// line), one hub goroutine that owns every room and nick and is fed by a channel, and per client a
// buffered channel of 256 outgoing lines drained by a writer goroutine (bufio.Writer, flushed when
// the channel is empty). A client whose channel is full is a slow consumer: it is dropped (closed),
// as in gorilla/websocket's chat example.
//
// usage: go-chat [-host 127.0.0.1] [-port 7000]
//
//	prints "listening on HOST:PORT", runs until killed.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

const (
	// maxLine is the longest line accepted, without its "\n".
	maxLine = 4096
	// queueLines is each client's buffer of undelivered lines; full means slow consumer.
	queueLines = 256
	// maxName is the longest nick or room name.
	maxName = 32
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 7000, "port to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-chat:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", ln.Addr())
	h := newHub()
	go h.run()
	var delay time.Duration
	for n := 1; ; {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				if delay == 0 {
					delay = 5 * time.Millisecond
				} else if delay *= 2; delay > time.Second {
					delay = time.Second
				}
				time.Sleep(delay)
				continue
			}
			fmt.Fprintln(os.Stderr, "go-chat: accept:", err)
			os.Exit(1)
		}
		delay = 0
		c := &client{conn: conn, out: make(chan string, queueLines), nick: fmt.Sprintf("guest%d", n), rooms: map[string]bool{}}
		n++
		go c.write()
		go c.read(h)
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// client is one connection. Only the hub goroutine touches nick, rooms and closed, and only the hub
// sends on (and closes) out; the writer goroutine is the only one that writes to conn.
type client struct {
	conn   net.Conn
	out    chan string
	nick   string
	rooms  map[string]bool
	closed bool
}

// request is one parsed line (or the end of the connection) on its way to the hub.
type request struct {
	c    *client
	cmd  string // NICK, JOIN, PART, MSG, QUIT; "" for a line the reader already answered; "gone" at EOF
	arg  string // the nick or room
	text string // MSG's text
	// reply, when not empty, is sent to the client before anything else is done (errors found by the
	// reader go through the hub too, so that every line the client receives keeps its order).
	reply string
	// close ends the connection after reply (line too long).
	close bool
}

// read parses lines and hands them to the hub; it never writes to the connection itself.
func (c *client) read(h *hub) {
	sc := bufio.NewScanner(c.conn)
	// Room for a maximum line plus "\r\n": a longer one fails with bufio.ErrTooLong.
	sc.Buffer(make([]byte, 4096), maxLine+2)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if len(line) > maxLine {
			h.requests <- request{c: c, reply: "ERR line too long", close: true}
			return
		}
		h.requests <- parse(c, line)
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		h.requests <- request{c: c, reply: "ERR line too long", close: true}
		return
	}
	h.requests <- request{c: c, cmd: "gone"}
}

// parse turns one line into a request; a malformed line becomes a request carrying only its error.
func parse(c *client, line string) request {
	cmd, args, _ := strings.Cut(line, " ")
	bad := func(what string) request { return request{c: c, reply: "ERR bad argument " + what} }
	switch cmd {
	case "NICK":
		if !validName(args) {
			return bad("nick")
		}
		return request{c: c, cmd: cmd, arg: args}
	case "JOIN", "PART":
		if !validName(args) {
			return bad("room")
		}
		return request{c: c, cmd: cmd, arg: args}
	case "MSG":
		room, text, _ := strings.Cut(args, " ")
		if !validName(room) {
			return bad("room")
		}
		return request{c: c, cmd: cmd, arg: room, text: text}
	case "QUIT":
		return request{c: c, cmd: cmd}
	default:
		return request{c: c, reply: "ERR unknown command " + cmd}
	}
}

// validName: 1–32 characters of [A-Za-z0-9_.-].
func validName(s string) bool {
	if len(s) < 1 || len(s) > maxName {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '.' || b == '-') {
			return false
		}
	}
	return true
}

// write drains out to the connection, flushing whenever nothing more is queued, and closes the
// connection when the hub closes out (QUIT, line too long, dropped, or the reader saw EOF).
func (c *client) write() {
	defer c.conn.Close()
	w := bufio.NewWriter(c.conn)
	for line := range c.out {
		w.WriteString(line)
		w.WriteByte('\n')
		if len(c.out) == 0 {
			if err := w.Flush(); err != nil {
				break
			}
		}
	}
	w.Flush()
	// Unblock the reader of a connection the hub ended.
	c.conn.Close()
	for range c.out {
	}
}

// hub owns the rooms (room → set of members) and every client's state; it is the only goroutine
// that sends to clients, so one member's lines arrive in the order the hub produced them.
type hub struct {
	requests chan request
	rooms    map[string]map[*client]bool
}

func newHub() *hub {
	return &hub{requests: make(chan request, 1024), rooms: map[string]map[*client]bool{}}
}

func (h *hub) run() {
	for r := range h.requests {
		c := r.c
		if c.closed {
			continue // dropped or quit: later lines from its reader are ignored
		}
		if r.reply != "" {
			h.send(c, r.reply)
			if r.close {
				h.end(c)
			}
			continue
		}
		switch r.cmd {
		case "NICK":
			c.nick = r.arg
			h.send(c, "OK NICK "+r.arg)
		case "JOIN":
			members := h.rooms[r.arg]
			if members == nil {
				members = map[*client]bool{}
				h.rooms[r.arg] = members
			}
			members[c] = true
			c.rooms[r.arg] = true
			h.send(c, "OK JOIN "+r.arg)
		case "PART":
			if !c.rooms[r.arg] {
				h.send(c, "ERR not in room "+r.arg)
				continue
			}
			h.leave(c, r.arg)
			h.send(c, "OK PART "+r.arg)
		case "MSG":
			if !c.rooms[r.arg] {
				h.send(c, "ERR not in room "+r.arg)
				continue
			}
			line := r.arg + " " + c.nick + ": " + r.text
			for m := range h.rooms[r.arg] {
				if m != c {
					h.send(m, line)
				}
			}
		case "QUIT":
			h.send(c, "OK QUIT")
			h.end(c)
		case "gone":
			h.end(c)
		}
	}
}

// send queues line for c without ever blocking the hub: a client whose queue is full is dropped.
func (h *hub) send(c *client, line string) {
	if c.closed {
		return
	}
	select {
	case c.out <- line:
	default:
		h.end(c)
		c.conn.Close() // now, not after its 256 queued lines: it is not reading them
	}
}

// end takes c out of every room and closes its queue; its writer flushes what is queued and closes.
func (h *hub) end(c *client) {
	if c.closed {
		return
	}
	c.closed = true
	for room := range c.rooms {
		h.leave(c, room)
	}
	close(c.out)
}

func (h *hub) leave(c *client, room string) {
	delete(c.rooms, room)
	if members := h.rooms[room]; members != nil {
		delete(members, c)
		if len(members) == 0 {
			delete(h.rooms, room)
		}
	}
}
