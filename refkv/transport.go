package refkv

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

const (
	msgVote        = "vote"
	msgVoteResp    = "vote-resp"
	msgPreVote     = "prevote"
	msgPreVoteResp = "prevote-resp"
	msgAppend      = "append"
	msgAppendResp  = "append-resp"
)

// message is every peer message; fields unused by a type stay empty.
type message struct {
	Type      string  `json:"type"`
	From      string  `json:"from"`
	Term      uint64  `json:"term"`
	LastIndex uint64  `json:"last_index,omitempty"`
	LastTerm  uint64  `json:"last_term,omitempty"`
	Granted   bool    `json:"granted,omitempty"`
	PrevIndex uint64  `json:"prev_index,omitempty"`
	PrevTerm  uint64  `json:"prev_term,omitempty"`
	Entries   []Entry `json:"entries,omitempty"`
	Commit    uint64  `json:"commit,omitempty"`
	// Sent is the leader's clock when it sent an append, echoed in the
	// answer: the lease counts from it.
	Sent    int64  `json:"sent,omitempty"`
	Success bool   `json:"success,omitempty"`
	Match   uint64 `json:"match,omitempty"`
	Hint    uint64 `json:"hint,omitempty"`
}

// transport carries peer messages one way over TCP: every node dials each
// peer for what it sends and reads what peers dialed in with. Sending never
// blocks the node: a message that cannot be queued or delivered is lost,
// which the protocol tolerates.
type transport struct {
	n     *Node
	ln    net.Listener
	mu    sync.Mutex
	out   map[string]chan *message
	conns map[net.Conn]bool
}

func listenTransport(addr string, n *Node) (*transport, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("refkv: peer port: %w", err)
	}
	t := &transport{n: n, ln: ln, out: map[string]chan *message{}, conns: map[net.Conn]bool{}}
	for _, p := range n.peers {
		t.out[p] = make(chan *message, 1024)
	}
	return t, nil
}

func (t *transport) run(ctx context.Context) {
	for _, p := range t.n.peers {
		go t.writer(ctx, p)
	}
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		t.mu.Lock()
		t.conns[c] = true
		t.mu.Unlock()
		go t.reader(c)
	}
}

func (t *transport) close() error {
	errs := []error{t.ln.Close()}
	t.mu.Lock()
	for c := range t.conns {
		errs = append(errs, c.Close())
	}
	t.mu.Unlock()
	return errors.Join(errs...)
}

func (t *transport) send(to string, m *message) {
	select {
	case t.out[to] <- m:
	default: // queue full: the peer is unreachable or slow; drop
	}
}

func (t *transport) reader(c net.Conn) {
	defer func() {
		_ = c.Close() // the peer's writer dials again
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
	}()
	dec := json.NewDecoder(bufio.NewReader(c))
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			return
		}
		t.n.handle(&m)
	}
}

func (t *transport) writer(ctx context.Context, to string) {
	addr := t.n.byName[to].Raft
	var c net.Conn
	var w *bufio.Writer
	var enc *json.Encoder
	defer func() {
		if c != nil {
			_ = c.Close() // the run is over
		}
	}()
	for {
		var m *message
		select {
		case <-ctx.Done():
			return
		case m = <-t.out[to]:
		}
		if c == nil {
			d := net.Dialer{Timeout: 300 * time.Millisecond, KeepAlive: time.Second}
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				// Unreachable: drop what is queued (it will be stale by
				// the time the peer is back) and try again on the next.
				for len(t.out[to]) > 0 {
					<-t.out[to]
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			c = conn
			w = bufio.NewWriter(c)
			enc = json.NewEncoder(w)
		}
		err := c.SetWriteDeadline(time.Now().Add(time.Second))
		if err == nil {
			err = enc.Encode(m)
		}
		for err == nil && len(t.out[to]) > 0 {
			err = enc.Encode(<-t.out[to])
		}
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			_ = c.Close() // broken: dialled again for the next message
			c = nil
		}
	}
}
