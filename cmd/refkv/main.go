// Command refkv runs one node of the reference key-value store faultline
// tests itself against (package refkv, docs/subject.md).
//
//	refkv -id n1 -peers n1=10.213.0.11,n2=10.213.0.12,n3=10.213.0.13 [-bug NAME]
//
// Each peer listens on the default ports (7001 peer, 7002 heartbeat, 8080
// client) at its address; a peer may also be written name=host with
// explicit ports as name=host:raft:heartbeat:client.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/faultline/faultline/refkv"
)

func main() {
	id := flag.String("id", "", "this node's name (one of -peers)")
	peers := flag.String("peers", "", "every node: name=host[:raft:heartbeat:client],...")
	bug := flag.String("bug", "none", "the bug to switch on (none, "+refkv.BugNames()+")")
	flag.Parse()
	b, err := refkv.ParseBug(*bug)
	if err != nil {
		fail(err)
	}
	ps, err := parsePeers(*peers)
	if err != nil {
		fail(err)
	}
	n, err := refkv.New(refkv.Config{ID: *id, Peers: ps, Bug: b, Log: log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)})
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := n.Run(ctx); err != nil {
		fail(err)
	}
}

func parsePeers(s string) ([]refkv.Peer, error) {
	if s == "" {
		return nil, fmt.Errorf("-peers is required")
	}
	var out []refkv.Peer
	for _, item := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(item, "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("-peers: %q is not name=host", item)
		}
		parts := strings.Split(addr, ":")
		ports := []int{refkv.RaftPort, refkv.HeartbeatPort, refkv.ClientPort}
		switch len(parts) {
		case 1:
		case 4:
			for i := range 3 {
				p, err := strconv.Atoi(parts[i+1])
				if err != nil || p <= 0 || p > 65535 {
					return nil, fmt.Errorf("-peers: %q: bad port %q", item, parts[i+1])
				}
				ports[i] = p
			}
		default:
			return nil, fmt.Errorf("-peers: %q: want name=host or name=host:raft:heartbeat:client", item)
		}
		h := parts[0]
		out = append(out, refkv.Peer{Name: name,
			Raft: fmt.Sprintf("%s:%d", h, ports[0]), Heartbeat: fmt.Sprintf("%s:%d", h, ports[1]), Client: fmt.Sprintf("%s:%d", h, ports[2])})
	}
	return out, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "refkv:", err)
	os.Exit(2)
}
