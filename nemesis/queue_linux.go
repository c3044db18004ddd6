package nemesis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"golang.org/x/sys/unix"
)

// QueueNum is the NFQUEUE queue faultline reads in each node's namespace
// (queue numbers are per namespace).
const QueueNum = 64001

// dupMark marks the copies the stage sends for duplication, so the queue
// rule lets them pass instead of queueing them again.
const dupMark = 0xfa01

// queueStage is the userspace stage of one node: it receives the node's
// outgoing packets on degraded links (the output chain sends them to
// QueueNum with bypass) and delays, drops, copies or corrupts them. If the
// harness dies, the kernel bypasses the queue: the link fails open.
type queueStage struct {
	node    string
	nf      *nfqueue.Nfqueue
	cancel  context.CancelFunc
	rawMu   sync.RWMutex // guards raw against use after close
	raw     int          // raw IPv4 socket in the node's namespace, for duplicates
	mu      sync.Mutex
	links   map[netip.Addr]*linkState // by destination
	pending sync.WaitGroup
	maxHold time.Duration
	failed  atomic.Pointer[error] // the first verdict refused
}

// openStage binds a stage to the namespace at path.
func openStage(node, path string) (*queueStage, error) {
	fd, closeFD, err := nsFD(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = closeFD() }() // the queue, once open, holds the namespace
	nf, err := nfqueue.Open(&nfqueue.Config{
		NetNS:        fd,
		NfQueue:      QueueNum,
		MaxPacketLen: 0xffff,
		MaxQueueLen:  8192,
		Copymode:     nfqueue.NfQnlCopyPacket,
		// Fail open when the queue is full, too.
		Flags:        nfqueue.NfQaCfgFlagFailOpen,
		WriteTimeout: time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("open NFQUEUE %d in %s: %w", QueueNum, node, err)
	}
	s := &queueStage{node: node, nf: nf, raw: -1, links: map[netip.Addr]*linkState{}}
	err = inNetNS(path, func() error {
		raw, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(raw, unix.SOL_SOCKET, unix.SO_MARK, dupMark); err != nil {
			return errors.Join(err, unix.Close(raw))
		}
		s.raw = raw
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("raw socket in %s: %w", node, err), nf.Close())
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := nf.RegisterWithErrorFunc(ctx, s.handle, func(error) int { return 0 }); err != nil {
		return nil, errors.Join(fmt.Errorf("read NFQUEUE %d in %s: %w", QueueNum, node, err), s.close())
	}
	return s, nil
}

// setLinks replaces the degradations, by destination address.
func (s *queueStage) setLinks(links map[netip.Addr]Gray, seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.links = map[netip.Addr]*linkState{}
	s.maxHold = 0
	for dst, g := range links {
		b := dst.As4()
		s.links[dst] = newLinkState(g, seed^uint64(binary.BigEndian.Uint32(b[:])))
		s.maxHold = max(s.maxHold, g.Delay+4*g.Jitter)
	}
}

// seen counts the packets to dst that reached the stage.
func (s *queueStage) seen(dst netip.Addr) int64 {
	s.mu.Lock()
	l := s.links[dst]
	s.mu.Unlock()
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen
}

func (s *queueStage) handle(a nfqueue.Attribute) int {
	if a.PacketID == nil || a.Payload == nil {
		return 0
	}
	id, pkt := *a.PacketID, *a.Payload
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		s.verdict(s.nf.SetVerdict(id, nfqueue.NfAccept))
		return 0
	}
	dst := netip.AddrFrom4([4]byte(pkt[16:20]))
	s.mu.Lock()
	link := s.links[dst]
	s.mu.Unlock()
	if link == nil {
		s.verdict(s.nf.SetVerdict(id, nfqueue.NfAccept))
		return 0
	}
	f := link.decide()
	if f.drop {
		s.verdict(s.nf.SetVerdict(id, nfqueue.NfDrop))
		return 0
	}
	if f.corrupt {
		pkt = corrupt(pkt, link)
	}
	release := func() {
		if f.corrupt {
			s.verdict(s.nf.SetVerdictModPacket(id, nfqueue.NfAccept, pkt))
		} else {
			s.verdict(s.nf.SetVerdict(id, nfqueue.NfAccept))
		}
		if f.duplicate {
			s.sendCopy(pkt, dst)
		}
	}
	if f.delay <= 0 {
		release()
		return 0
	}
	s.pending.Add(1)
	time.AfterFunc(f.delay, func() {
		defer s.pending.Done()
		release()
	})
	return 0
}

// corrupt flips one random bit past the IP and transport headers (or in
// the transport header's last byte for a packet with no payload).
func corrupt(pkt []byte, link *linkState) []byte {
	out := append([]byte(nil), pkt...)
	ihl := int(out[0]&0x0f) * 4
	start := ihl + 8 // past a UDP header, inside a TCP one at worst
	if out[9] == unix.IPPROTO_TCP && len(out) > ihl+12 {
		start = ihl + int(out[ihl+12]>>4)*4
	}
	if start >= len(out) {
		start = len(out) - 1
	}
	link.mu.Lock()
	i := start + link.rng.IntN(len(out)-start)
	bit := byte(1) << link.rng.IntN(8)
	link.mu.Unlock()
	out[i] ^= bit
	return out
}

// sendCopy sends a copy of an IPv4 packet from the node's namespace. The
// copy carries dupMark, so the queue rule lets it through.
func (s *queueStage) sendCopy(pkt []byte, dst netip.Addr) {
	s.rawMu.RLock()
	defer s.rawMu.RUnlock()
	if s.raw < 0 {
		return
	}
	// A copy the node's stack refuses is a duplicate lost: the original
	// went through, which is all a link owes.
	_ = unix.Sendto(s.raw, pkt, 0, &unix.SockaddrInet4{Addr: dst.As4()})
}

// verdict keeps the first verdict the kernel refused: a packet it holds
// past the fault, which close reports.
func (s *queueStage) verdict(err error) {
	if err != nil {
		s.failed.CompareAndSwap(nil, &err)
	}
}

// close waits (bounded) for held packets to be released, then closes the
// queue socket. The caller removes the queue rules first, so no new packet
// arrives; packets still held when the socket closes are dropped by the
// kernel. The error says what could not be closed, and the first verdict
// the kernel refused.
func (s *queueStage) close() error {
	done := make(chan struct{})
	go func() { s.pending.Wait(); close(done) }()
	s.mu.Lock()
	wait := s.maxHold + 200*time.Millisecond
	s.mu.Unlock()
	select {
	case <-done:
	case <-time.After(wait):
	}
	if s.cancel != nil {
		s.cancel()
	}
	errs := []error{s.nf.Close()}
	s.rawMu.Lock()
	if s.raw >= 0 {
		errs = append(errs, unix.Close(s.raw))
		s.raw = -1
	}
	s.rawMu.Unlock()
	if f := s.failed.Load(); f != nil {
		errs = append(errs, fmt.Errorf("the userspace stage of %s could not release a packet: %w", s.node, *f))
	}
	return errors.Join(errs...)
}
