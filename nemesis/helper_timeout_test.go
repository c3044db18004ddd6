package nemesis

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// silent is a helper that greets and then reads every request and answers
// none: hung, or cut off from the controller.
type silent struct {
	io.Reader
	io.WriteCloser
}

// An unreachable helper: a request it does not answer fails within the
// timeout, naming the node, as a helper gone; the run does not hang.
func TestHelperThatDoesNotAnswer(t *testing.T) {
	old := helperTimeout
	helperTimeout = 300 * time.Millisecond
	t.Cleanup(func() { helperTimeout = old })
	toHelper, fromController := io.Pipe()
	toController, fromHelper := io.Pipe()
	go func() {
		sc := bufio.NewScanner(toHelper)
		for sc.Scan() {
			var req struct {
				ID int64  `json:"id"`
				Op string `json:"op"`
			}
			json.Unmarshal(sc.Bytes(), &req)
			if req.Op == "hello" {
				json.NewEncoder(fromHelper).Encode(map[string]int64{"id": req.ID})
			}
		}
	}()
	a, err := NewRemoteAgent(context.Background(), Node{Name: "n2", Addr: netip.MustParseAddr("10.0.0.2")}, silent{toController, fromController})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = a.Set(context.Background(), NodeRules{DropFrom: []Match{{Peer: netip.MustParseAddr("10.0.0.1")}}})
	if !errors.Is(err, ErrHelperGone) || !strings.Contains(err.Error(), "the helper of n2 did not answer set within") {
		t.Errorf("set through a helper that does not answer: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the set waited %v", took)
	}
}
