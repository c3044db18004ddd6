package nemesis

import (
	"net/netip"
	"testing"
	"time"
)

// TestEngineRouting: with the netem engine, links go to netem under an
// HTB class at the sender, except what netem cannot express (normal
// jitter), which stays with the queue; with the queue engine nothing goes
// to netem and plain loss stays an nftables rule at the receiver.
func TestEngineRouting(t *testing.T) {
	n, err := NewNet([]Node{
		{Name: "n1", Addr: netip.MustParseAddr("10.0.0.1"), NetNS: "/x"},
		{Name: "n2", Addr: netip.MustParseAddr("10.0.0.2"), NetNS: "/y"},
		{Name: "n3", Addr: netip.MustParseAddr("10.0.0.3"), NetNS: "/z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	n.gray = []Gray{
		{From: "n1", To: "n2", Delay: 50 * time.Millisecond, Loss: 10},
		{From: "n1", To: "n3", Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, Distribution: "normal"},
		{From: "n2", To: "n1", Loss: 5},
	}
	n.engine = EngineNetem
	r1 := n.rulesFor("n1")
	if len(r1.RateTo) != 1 || r1.RateTo[0].Netem == nil || r1.RateTo[0].Peer.String() != "10.0.0.2" || r1.RateTo[0].BPS != 0 {
		t.Errorf("netem: n1->n2 should be netem under an uncapped class: %+v", r1.RateTo)
	}
	if len(r1.Queue) != 1 || r1.Queue[0].Peer.String() != "10.0.0.3" {
		t.Errorf("netem: n1->n3 (normal jitter) should use the queue: %+v", r1.Queue)
	}
	if r := n.rulesFor("n2"); len(r.RateTo) != 1 || r.RateTo[0].Netem.Loss != 5 || len(n.rulesFor("n1").LossFrom) != 0 {
		t.Errorf("netem: n2->n1 loss should be netem at n2: %+v / %+v", r.RateTo, n.rulesFor("n1").LossFrom)
	}

	n.engine = EngineQueue
	r1 = n.rulesFor("n1")
	if len(r1.RateTo) != 0 || len(r1.Queue) != 2 || len(r1.LossFrom) != 1 {
		t.Errorf("queue: n1 rules %+v", r1)
	}
}
