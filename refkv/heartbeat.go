package refkv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// heartbeats is the liveness service on the UDP heartbeat port: every node
// sends "alive <name>" to every peer at the heartbeat interval and notes
// whom it hears. The correct build only reports it (GET /status); the
// HeartbeatPortFD and SendOnlyQuorum bugs make the leader trust it.
type heartbeats struct {
	n     *Node
	conn  *net.UDPConn
	peers map[string]*net.UDPConn
}

func listenHeartbeats(addr string, n *Node) (*heartbeats, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("refkv: heartbeat port: %w", err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("refkv: heartbeat port: %w", err)
	}
	h := &heartbeats{n: n, conn: conn, peers: map[string]*net.UDPConn{}}
	for _, p := range n.peers {
		pa, err := net.ResolveUDPAddr("udp", n.byName[p].Heartbeat)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("refkv: heartbeat address of %s: %w", p, err), h.close())
		}
		// A connected socket per peer: a send the network refuses fails
		// here (EPERM, ECONNREFUSED), which SendOnlyQuorum takes as news.
		c, err := net.DialUDP("udp", nil, pa)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("refkv: heartbeat socket to %s: %w", p, err), h.close())
		}
		h.peers[p] = c
	}
	return h, nil
}

func (h *heartbeats) close() error {
	errs := []error{h.conn.Close()}
	for _, c := range h.peers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (h *heartbeats) run(ctx context.Context, every time.Duration) {
	go func() {
		buf := make([]byte, 256)
		for {
			k, _, err := h.conn.ReadFromUDP(buf)
			if err != nil {
				if ctx.Err() != nil || strings.Contains(err.Error(), "closed") {
					return
				}
				continue
			}
			if name, ok := strings.CutPrefix(string(buf[:k]), "alive "); ok {
				h.n.heardHeartbeat(name)
			}
		}
	}()
	msg := []byte("alive " + h.n.cfg.ID)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for name, c := range h.peers {
			if _, err := c.Write(msg); err == nil {
				h.n.sentHeartbeat(name)
			}
		}
	}
}
