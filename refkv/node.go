// Package refkv is a small replicated key-value store written to test
// faultline itself: a subject whose bugs are known. The correct build is a
// Raft-style log (terms, majority votes with log comparison, majority
// commit) with lease-based reads; every Bug changes one decision in it.
//
// Each node listens on three ports: peer messages over TCP (RaftPort),
// liveness heartbeats over UDP (HeartbeatPort) and the client API over HTTP
// (ClientPort). State is kept in memory only: a node that restarts has lost
// its log, so refkv is not for process faults.
package refkv

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/faultline/faultline/refkv/client"
)

// Default ports.
const (
	RaftPort      = 7001
	HeartbeatPort = 7002
	ClientPort    = 8080
)

// Timing of the correct build. The lease is shorter than the shortest
// election timeout: a node that acknowledged the leader at time t does not
// vote for anyone else before t + ElectionMin, so the leader's lease,
// counted from when it sent what a majority acknowledged, ends first.
type Timing struct {
	Heartbeat   time.Duration // leader's append/heartbeat interval
	ElectionMin time.Duration // election timeout, drawn from [min, max)
	ElectionMax time.Duration
	Lease       time.Duration // read lease, counted from send time
	CheckQuorum time.Duration // a leader without a quorum this long steps down
	SplitBrain  time.Duration // SplitBrain: leaderless this long, self-promote
	Forward     time.Duration // RetryForward: per-attempt timeout
}

// DefaultTiming is what the image runs with.
var DefaultTiming = Timing{
	Heartbeat:   100 * time.Millisecond,
	ElectionMin: 1000 * time.Millisecond,
	ElectionMax: 2000 * time.Millisecond,
	Lease:       800 * time.Millisecond,
	CheckQuorum: 4 * time.Second,
	SplitBrain:  3 * time.Second,
	Forward:     300 * time.Millisecond,
}

// Peer is where one node listens.
type Peer struct {
	Name      string
	Raft      string // host:port, TCP
	Heartbeat string // host:port, UDP
	Client    string // host:port, HTTP
}

// Config starts one node.
type Config struct {
	ID     string
	Peers  []Peer // every node, this one included
	Bug    Bug
	Timing Timing
	Log    *log.Logger
}

type state int

const (
	follower state = iota
	candidate
	leader
)

func (s state) String() string {
	return [...]string{"follower", "candidate", "leader"}[s]
}

// Command is one write in the log.
type Command struct {
	Op     string `json:"op"` // "write", "cas" or "noop"
	Key    string `json:"key,omitempty"`
	Value  int64  `json:"value,omitempty"`
	Expect *int64 `json:"expect,omitempty"`
}

// Entry is one log entry.
type Entry struct {
	Term uint64  `json:"term"`
	Cmd  Command `json:"cmd"`
}

type result struct {
	ok   bool  // cas matched (always true for write)
	lost error // the entry was overwritten or its leader lost: outcome unknown
}

type waiter struct {
	term uint64
	ch   chan result
}

// Node is one refkv member.
type Node struct {
	cfg    Config
	peers  []string // other nodes' names
	byName map[string]Peer
	start  time.Time
	logf   func(string, ...any)

	mu          sync.Mutex
	state       state
	term        uint64
	votedFor    string
	leaderID    string
	log         []Entry // log[0] is a sentinel
	commit      uint64
	applied     uint64
	data        map[string]int64
	waiters     map[uint64]waiter
	votes       map[string]bool
	preVotes    map[string]bool
	heardLeader time.Duration // when a valid append from the leader last arrived
	electionAt  time.Duration // when this node next campaigns
	leaderSince time.Duration
	termStart   uint64 // index of this leader's first entry (its no-op)
	degraded    bool   // SplitBrain: leading without a quorum
	leaderless  time.Duration
	lastSend    time.Duration
	next, match map[string]uint64
	acked       map[string]time.Duration // send time of the newest acknowledged append, this term
	hbHeard     map[string]time.Duration // heartbeat datagram received (any term)
	hbSent      map[string]time.Duration // heartbeat datagram sent without error

	tr  *transport
	hb  *heartbeats
	api *http.Server
	fwd *http.Client
	rng *rand.Rand
}

// New makes a node; Run starts it.
func New(cfg Config) (*Node, error) {
	if cfg.Timing == (Timing{}) {
		cfg.Timing = DefaultTiming
	}
	n := &Node{
		cfg:     cfg,
		byName:  map[string]Peer{},
		start:   time.Now(),
		log:     []Entry{{}},
		data:    map[string]int64{},
		waiters: map[uint64]waiter{},
		next:    map[string]uint64{},
		match:   map[string]uint64{},
		acked:   map[string]time.Duration{},
		hbHeard: map[string]time.Duration{},
		hbSent:  map[string]time.Duration{},
		rng:     rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed)),
	}
	found := false
	for _, p := range cfg.Peers {
		if _, dup := n.byName[p.Name]; dup {
			return nil, fmt.Errorf("refkv: peer %s listed twice", p.Name)
		}
		n.byName[p.Name] = p
		if p.Name == cfg.ID {
			found = true
		} else {
			n.peers = append(n.peers, p.Name)
		}
	}
	if !found {
		return nil, fmt.Errorf("refkv: node %s is not among the peers", cfg.ID)
	}
	if cfg.Log == nil {
		cfg.Log = log.New(log.Writer(), "", log.LstdFlags|log.Lmicroseconds)
	}
	n.logf = func(format string, args ...any) {
		cfg.Log.Printf("%s: "+format, append([]any{cfg.ID}, args...)...)
	}
	n.fwd = &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 32,
	}}
	return n, nil
}

func (n *Node) now() time.Duration { return time.Since(n.start) }

func (n *Node) majority() int { return (len(n.peers)+1)/2 + 1 }

func (n *Node) lastIndex() uint64 { return uint64(len(n.log) - 1) }

func (n *Node) resetElection() {
	span := n.cfg.Timing.ElectionMax - n.cfg.Timing.ElectionMin
	n.electionAt = n.now() + n.cfg.Timing.ElectionMin + time.Duration(n.rng.Int64N(int64(span)+1))
}

// Run serves until ctx ends.
func (n *Node) Run(ctx context.Context) error {
	self := n.byName[n.cfg.ID]
	tr, err := listenTransport(self.Raft, n)
	if err != nil {
		return err
	}
	n.tr = tr
	hb, err := listenHeartbeats(self.Heartbeat, n)
	if err != nil {
		return errors.Join(err, tr.close())
	}
	n.hb = hb
	ln, err := net.Listen("tcp", self.Client)
	if err != nil {
		return errors.Join(fmt.Errorf("refkv: client port: %w", err), tr.close(), hb.close())
	}
	n.api = &http.Server{Handler: n.handler(), ReadHeaderTimeout: 5 * time.Second}
	n.mu.Lock()
	n.resetElection()
	n.leaderless = n.now()
	n.mu.Unlock()
	n.logf("up (bug: %s), peers %v", bugName(n.cfg.Bug), n.peers)

	errc := make(chan error, 1)
	go func() { errc <- n.api.Serve(ln) }()
	go n.tr.run(ctx)
	go n.hb.run(ctx, n.cfg.Timing.Heartbeat)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return errors.Join(n.api.Shutdown(sctx), n.tr.close(), n.hb.close())
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				return err
			}
		case <-tick.C:
			n.tick()
		}
	}
}

func bugName(b Bug) string {
	if b == None {
		return "none"
	}
	return string(b)
}

func (n *Node) tick() {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	switch n.state {
	case leader:
		if !n.degraded && now-max(n.quorumTime(), n.leaderSince) > n.cfg.Timing.CheckQuorum {
			n.logf("stepping down in term %d: no quorum for %v", n.term, n.cfg.Timing.CheckQuorum)
			n.becomeFollower(n.term, "")
			return
		}
		if now-n.lastSend >= n.cfg.Timing.Heartbeat {
			n.broadcast()
		}
	default:
		if n.cfg.Bug == SplitBrain && now-n.leaderless > n.cfg.Timing.SplitBrain {
			n.promoteAlone()
			return
		}
		if now >= n.electionAt {
			n.preCampaign()
		}
	}
}

// quorumTime is the newest time at which the leader knows a majority
// (itself included) was with it. What counts as "with it" is the one
// decision SendOnlyQuorum and HeartbeatPortFD get wrong.
func (n *Node) quorumTime() time.Duration {
	times := []time.Duration{n.now()}
	for _, p := range n.peers {
		switch n.cfg.Bug {
		case SendOnlyQuorum:
			times = append(times, n.hbSent[p])
		case HeartbeatPortFD:
			times = append(times, n.hbHeard[p])
		default:
			times = append(times, n.acked[p])
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] > times[j] })
	return times[n.majority()-1]
}

// canRead says whether this node may answer a read from its own state.
func (n *Node) canRead() (bool, string) {
	if n.cfg.Bug == FollowerReads {
		return true, ""
	}
	if n.state != leader {
		return false, "not the leader"
	}
	if n.applied < n.termStart {
		return false, "leader has not applied its first entry yet"
	}
	if n.degraded || n.cfg.Bug == StaleLeaderReads {
		return true, ""
	}
	if n.now()-n.quorumTime() >= n.cfg.Timing.Lease {
		return false, "leader holds no lease"
	}
	return true, ""
}

func (n *Node) becomeFollower(term uint64, leaderID string) {
	if term > n.term {
		n.term = term
		n.votedFor = ""
	}
	if n.state == leader {
		n.leaderless = n.now()
	}
	n.state = follower
	n.degraded = false
	n.leaderID = leaderID
	n.resetElection()
}

// preCampaign asks the peers whether they would vote before this node
// raises its term (Raft's pre-vote): a node that was cut off, or is behind,
// then cannot force a working leader to step down when it comes back.
func (n *Node) preCampaign() {
	n.preVotes = map[string]bool{n.cfg.ID: true}
	n.resetElection()
	last := n.lastIndex()
	for _, p := range n.peers {
		n.tr.send(p, &message{Type: msgPreVote, From: n.cfg.ID, Term: n.term + 1, LastIndex: last, LastTerm: n.log[last].Term})
	}
	if len(n.preVotes) >= n.majority() {
		n.campaign()
	}
}

func (n *Node) campaign() {
	n.state = candidate
	n.term++
	n.votedFor = n.cfg.ID
	n.leaderID = ""
	n.votes = map[string]bool{n.cfg.ID: true}
	n.resetElection()
	n.logf("campaigning for term %d", n.term)
	last := n.lastIndex()
	for _, p := range n.peers {
		n.tr.send(p, &message{Type: msgVote, From: n.cfg.ID, Term: n.term, LastIndex: last, LastTerm: n.log[last].Term})
	}
	if len(n.votes) >= n.majority() {
		n.becomeLeader()
	}
}

func (n *Node) promoteAlone() {
	n.term++
	n.votedFor = n.cfg.ID
	n.logf("no leader for %v: promoting myself in term %d without a quorum", n.cfg.Timing.SplitBrain, n.term)
	n.becomeLeader()
	n.degraded = true
}

func (n *Node) becomeLeader() {
	n.state = leader
	n.leaderID = n.cfg.ID
	n.leaderSince = n.now()
	n.degraded = false
	for _, p := range n.peers {
		n.next[p] = n.lastIndex() + 1
		n.match[p] = 0
		n.acked[p] = 0
	}
	n.log = append(n.log, Entry{Term: n.term, Cmd: Command{Op: "noop"}})
	n.termStart = n.lastIndex()
	n.logf("leader for term %d", n.term)
	n.advanceCommit()
	n.broadcast()
}

func (n *Node) broadcast() {
	n.lastSend = n.now()
	for _, p := range n.peers {
		n.sendAppend(p)
	}
}

const maxBatch = 64

func (n *Node) sendAppend(p string) {
	next := max(n.next[p], 1)
	prev := next - 1
	end := min(n.lastIndex(), prev+maxBatch)
	var entries []Entry
	if end > prev {
		entries = slices.Clone(n.log[prev+1 : end+1])
	}
	n.tr.send(p, &message{Type: msgAppend, From: n.cfg.ID, Term: n.term, PrevIndex: prev, PrevTerm: n.log[prev].Term,
		Entries: entries, Commit: n.commit, Sent: int64(n.now())})
}

// propose appends a command to the leader's log; the caller waits on the
// channel for its outcome.
func (n *Node) propose(cmd Command) (chan result, error) {
	if n.state != leader {
		return nil, errNotLeader
	}
	n.log = append(n.log, Entry{Term: n.term, Cmd: cmd})
	idx := n.lastIndex()
	ch := make(chan result, 1)
	n.waiters[idx] = waiter{term: n.term, ch: ch}
	if n.cfg.Bug == EarlyAck && !n.degraded {
		// The bug: apply and answer now, before a majority has the entry.
		for n.applied < idx {
			n.applyNext()
		}
	}
	n.advanceCommit()
	n.broadcast()
	return ch, nil
}

var errNotLeader = errors.New("not the leader")

func (n *Node) advanceCommit() {
	if n.state != leader {
		return
	}
	var idx uint64
	if n.degraded {
		idx = n.lastIndex() // SplitBrain: a quorum of one
	} else {
		matches := []uint64{n.lastIndex()}
		for _, p := range n.peers {
			matches = append(matches, n.match[p])
		}
		sort.Slice(matches, func(i, j int) bool { return matches[i] > matches[j] })
		idx = matches[n.majority()-1]
	}
	if idx > n.commit && n.log[idx].Term == n.term {
		n.commit = idx
	}
	n.applyCommitted()
}

func (n *Node) applyCommitted() {
	for n.applied < n.commit {
		n.applyNext()
	}
}

func (n *Node) applyNext() {
	n.applied++
	i := n.applied
	e := n.log[i]
	ok := true
	switch e.Cmd.Op {
	case "write":
		n.data[e.Cmd.Key] = e.Cmd.Value
	case "cas":
		cur, exists := n.data[e.Cmd.Key]
		// No expected value: the key must be absent.
		ok = e.Cmd.Expect == nil && !exists || e.Cmd.Expect != nil && exists && cur == *e.Cmd.Expect
		if ok {
			n.data[e.Cmd.Key] = e.Cmd.Value
		}
	}
	if w, found := n.waiters[i]; found {
		delete(n.waiters, i)
		if w.term == e.Term {
			w.ch <- result{ok: ok}
		} else {
			w.ch <- result{lost: errors.New("entry replaced by a newer leader")}
		}
	}
}

// truncate drops log entries from index i on; their waiters learn that the
// outcome is unknown.
func (n *Node) truncate(i uint64) {
	for j := i; j <= n.lastIndex(); j++ {
		if w, found := n.waiters[j]; found {
			delete(n.waiters, j)
			w.ch <- result{lost: errors.New("entry dropped by a newer leader")}
		}
	}
	n.log = n.log[:i]
	if n.applied >= i {
		// Only EarlyAck and SplitBrain apply uncommitted entries; their
		// state machine keeps the effects (that is the bug showing).
		n.applied = i - 1
	}
	if n.commit >= i {
		n.commit = i - 1
	}
}

// handle processes one peer message.
func (n *Node) handle(m *message) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch m.Type {
	case msgVote:
		n.onVote(m)
	case msgVoteResp:
		n.onVoteResp(m)
	case msgPreVote:
		n.onPreVote(m)
	case msgPreVoteResp:
		if n.state != leader && m.Term == n.term+1 && m.Granted && n.preVotes != nil {
			n.preVotes[m.From] = true
			if len(n.preVotes) >= n.majority() {
				n.preVotes = nil
				n.campaign()
			}
		}
	case msgAppend:
		n.onAppend(m)
	case msgAppendResp:
		n.onAppendResp(m)
	}
}

// sticky says whether this node still follows (or is) a live leader, and
// so must not help elect another.
func (n *Node) sticky() bool {
	return n.state == leader && !n.degraded || n.leaderID != "" && n.now()-n.heardLeader < n.cfg.Timing.ElectionMin
}

func (n *Node) upToDate(lastIndex, lastTerm uint64) bool {
	last := n.lastIndex()
	return lastTerm > n.log[last].Term || lastTerm == n.log[last].Term && lastIndex >= last
}

// onPreVote answers whether this node would vote, changing nothing.
func (n *Node) onPreVote(m *message) {
	granted := !n.sticky() && m.Term > n.term && n.upToDate(m.LastIndex, m.LastTerm)
	n.tr.send(m.From, &message{Type: msgPreVoteResp, From: n.cfg.ID, Term: m.Term, Granted: granted})
}

func (n *Node) onVote(m *message) {
	// Leader stickiness: while this node has heard from a live leader
	// within the shortest election timeout (or leads), it ignores
	// candidates, whatever their term. The read lease depends on it.
	if n.sticky() {
		return
	}
	if m.Term > n.term {
		n.becomeFollower(m.Term, "")
	}
	granted := m.Term == n.term && (n.votedFor == "" || n.votedFor == m.From) && n.upToDate(m.LastIndex, m.LastTerm)
	if granted {
		n.votedFor = m.From
		n.resetElection()
	}
	n.tr.send(m.From, &message{Type: msgVoteResp, From: n.cfg.ID, Term: n.term, Granted: granted})
}

func (n *Node) onVoteResp(m *message) {
	if m.Term > n.term {
		n.becomeFollower(m.Term, "")
		return
	}
	if n.state != candidate || m.Term != n.term || !m.Granted {
		return
	}
	n.votes[m.From] = true
	if len(n.votes) >= n.majority() {
		n.becomeLeader()
	}
}

func (n *Node) onAppend(m *message) {
	if m.Term < n.term {
		n.tr.send(m.From, &message{Type: msgAppendResp, From: n.cfg.ID, Term: n.term, Sent: m.Sent})
		return
	}
	if m.Term > n.term || n.state != follower || n.leaderID != m.From {
		if n.state == leader {
			n.logf("stepping down: %s leads term %d", m.From, m.Term)
		}
		n.becomeFollower(m.Term, m.From)
	}
	n.heardLeader = n.now()
	n.leaderless = n.now()
	n.resetElection()
	resp := &message{Type: msgAppendResp, From: n.cfg.ID, Term: n.term, Sent: m.Sent}
	if m.PrevIndex > n.lastIndex() || n.log[m.PrevIndex].Term != m.PrevTerm {
		resp.Hint = min(n.lastIndex(), m.PrevIndex-1)
		n.tr.send(m.From, resp)
		return
	}
	for i, e := range m.Entries {
		idx := m.PrevIndex + 1 + uint64(i)
		if idx <= n.lastIndex() {
			if n.log[idx].Term == e.Term {
				continue
			}
			n.truncate(idx)
		}
		n.log = append(n.log, e)
	}
	lastNew := m.PrevIndex + uint64(len(m.Entries))
	if c := min(m.Commit, lastNew); c > n.commit {
		n.commit = c
		n.applyCommitted()
	}
	resp.Success = true
	resp.Match = lastNew
	n.tr.send(m.From, resp)
}

func (n *Node) onAppendResp(m *message) {
	if m.Term > n.term {
		if n.state == leader {
			n.logf("stepping down: a peer is in term %d", m.Term)
		}
		n.becomeFollower(m.Term, "")
		return
	}
	if n.state != leader || m.Term != n.term {
		return
	}
	p := m.From
	if !m.Success {
		n.next[p] = max(n.match[p]+1, min(n.next[p], m.Hint+1))
		n.sendAppend(p)
		return
	}
	if sent := time.Duration(m.Sent); sent > n.acked[p] {
		n.acked[p] = sent
	}
	if m.Match > n.match[p] {
		n.match[p] = m.Match
	}
	n.next[p] = max(n.next[p], m.Match+1)
	n.advanceCommit()
	if n.next[p] <= n.lastIndex() {
		n.sendAppend(p)
	}
}

// heartbeat bookkeeping, called by the heartbeat service.
func (n *Node) heardHeartbeat(from string) {
	n.mu.Lock()
	if _, ok := n.byName[from]; ok && from != n.cfg.ID {
		n.hbHeard[from] = n.now()
	}
	n.mu.Unlock()
}

func (n *Node) sentHeartbeat(to string) {
	n.mu.Lock()
	n.hbSent[to] = n.now()
	n.mu.Unlock()
}

// Status is what GET /status answers.
type Status = client.Status

func (n *Node) status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	lease, _ := n.canRead()
	s := Status{ID: n.cfg.ID, Bug: bugName(n.cfg.Bug), State: n.state.String(), Term: n.term, Leader: n.leaderID,
		Degraded: n.degraded, Lease: lease && n.state == leader, Commit: n.commit, Applied: n.applied, Last: n.lastIndex(),
		Alive: map[string]string{}}
	for _, p := range n.peers {
		if t, ok := n.hbHeard[p]; ok {
			s.Alive[p] = (n.now() - t).Round(time.Millisecond).String()
		}
	}
	return s
}
