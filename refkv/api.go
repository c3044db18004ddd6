package refkv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/faultline/faultline/refkv/client"
)

// The client API, on the client port, is package client's: its wire
// types are Request, Response and Status there.
type (
	Request  = client.Request
	Response = client.Response
)

const forwardedHeader = "X-Refkv-Forwarded"

func (n *Node) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, n.status())
	})
	mux.HandleFunc("GET /kv/{key}", n.serveRead)
	mux.HandleFunc("POST /kv/{key}", n.serveWrite)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // a client that went away is told nothing more
}

func fail(w http.ResponseWriter, definite bool, format string, args ...any) {
	writeJSON(w, http.StatusServiceUnavailable, Response{Error: fmt.Sprintf(format, args...), Definite: definite})
}

func (n *Node) serveRead(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	n.mu.Lock()
	ok, why := n.canRead()
	var resp Response
	if ok {
		if v, found := n.data[key]; found {
			resp.Value = &v
		}
	}
	leaderID := n.leaderID
	isLeader := n.state == leader
	n.mu.Unlock()
	switch {
	case ok:
		writeJSON(w, http.StatusOK, resp)
	case isLeader || leaderID == "" || r.Header.Get(forwardedHeader) != "":
		if leaderID == "" {
			why = "no leader known"
		}
		fail(w, true, "%s: %s", n.cfg.ID, why) // a read that is not answered had no effect
	default:
		n.forward(w, r, leaderID, nil, false)
	}
}

func (n *Node) serveWrite(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		fail(w, true, "read request: %v", err)
		return
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil || (req.Op != "write" && req.Op != "cas") {
		http.Error(w, `body must be {"op": "write", "value": N} or {"op": "cas", "expect": N, "value": M}`, http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	if n.state != leader {
		leaderID := n.leaderID
		n.mu.Unlock()
		if leaderID == "" || r.Header.Get(forwardedHeader) != "" {
			fail(w, true, "%s: not the leader, and no leader known", n.cfg.ID)
			return
		}
		n.forward(w, r, leaderID, body, true)
		return
	}
	ch, err := n.propose(Command{Op: req.Op, Key: key, Value: req.Value, Expect: req.Expect})
	n.mu.Unlock()
	if err != nil {
		fail(w, true, "%s: %v", n.cfg.ID, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	select {
	case res := <-ch:
		if res.lost != nil {
			fail(w, false, "%s: %v", n.cfg.ID, res.lost)
			return
		}
		writeJSON(w, http.StatusOK, Response{OK: res.ok})
	case <-ctx.Done():
		fail(w, false, "%s: not committed in time", n.cfg.ID)
	}
}

// forward passes a request to the leader and relays its answer. A write
// whose answer does not come back has an unknown outcome. With RetryForward
// a write is sent again when the leader is slow to answer: the bug.
func (n *Node) forward(w http.ResponseWriter, r *http.Request, to string, body []byte, write bool) {
	url := "http://" + n.byName[to].Client + r.URL.Path
	attempts := 1
	if write && n.cfg.Bug == RetryForward {
		attempts = 3
	}
	var lastErr error
	for a := range attempts {
		ctx := r.Context()
		var cancel context.CancelFunc = func() {}
		if attempts > 1 {
			ctx, cancel = context.WithTimeout(ctx, n.cfg.Timing.Forward)
		}
		req, err := http.NewRequestWithContext(ctx, r.Method, url, bytes.NewReader(body))
		if err != nil {
			cancel()
			fail(w, true, "forward: %v", err)
			return
		}
		req.Header.Set(forwardedHeader, n.cfg.ID)
		resp, err := n.fwd.Do(req)
		if err != nil {
			cancel()
			lastErr = err
			if r.Context().Err() != nil {
				break
			}
			if a+1 < attempts {
				n.logf("forward to %s: %v; retrying", to, err)
			}
			continue
		}
		out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		err = errors.Join(err, resp.Body.Close())
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		if _, err := w.Write(out); err != nil {
			n.logf("answer a forwarded request: %v", err)
		}
		return
	}
	// Could the leader have received it? A write may have happened; a
	// read never has an effect.
	definite := !write || isDialError(lastErr)
	fail(w, definite, "%s: forward to leader %s: %v", n.cfg.ID, to, lastErr)
}

// isDialError: the connection to the leader was never made, so the
// request never reached it.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
