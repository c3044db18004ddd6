package nemesis

import (
	"fmt"
	"strings"
)

// Feature is a kernel feature a fault may need.
type Feature string

const (
	FeatNFTables Feature = "nftables"
	FeatReject   Feature = "nftables reject"
	FeatNumgen   Feature = "nftables numgen"
	FeatNFQueue  Feature = "xtables NFQUEUE target"
	FeatHTB      Feature = "sch_htb"
	FeatNetem    Feature = "sch_netem"
)

// kernelOption names the kernel configuration behind each feature, for
// error messages.
var kernelOption = map[Feature]string{
	FeatNFTables: "CONFIG_NF_TABLES, CONFIG_NF_TABLES_IPV4",
	FeatReject:   "CONFIG_NFT_REJECT",
	FeatNumgen:   "CONFIG_NFT_NUMGEN",
	FeatNFQueue:  "CONFIG_NFT_COMPAT, CONFIG_NETFILTER_XT_TARGET_NFQUEUE",
	FeatHTB:      "CONFIG_NET_SCH_HTB, CONFIG_NET_CLS_U32",
	FeatNetem:    "CONFIG_NET_SCH_NETEM",
}

// Capabilities is what this host's kernel was found to do, by trying each
// feature in a scratch network namespace.
type Capabilities struct {
	Has map[Feature]bool `json:"has"`
	// Why holds the error each missing feature gave.
	Why map[Feature]string `json:"why,omitempty"`
}

// String lists present and missing features.
func (c Capabilities) String() string {
	var have, lack []string
	for _, f := range []Feature{FeatNFTables, FeatReject, FeatNumgen, FeatNFQueue, FeatHTB, FeatNetem} {
		if c.Has[f] {
			have = append(have, string(f))
		} else {
			lack = append(lack, string(f))
		}
	}
	return fmt.Sprintf("has %s; lacks %s", strings.Join(have, ", "), strings.Join(lack, ", "))
}

// Needer is a fault that needs kernel features on this host.
type Needer interface {
	Needs() []Feature
}

var (
	_ Needer = (*PartitionFault)(nil)
	_ Needer = (*GrayFault)(nil)
)

// Needs lists the features a fault needs on this host, and nil for faults
// that act through processes only.
func Needs(f Fault) []Feature {
	if n, ok := f.(Needer); ok {
		return n.Needs()
	}
	return nil
}

// Needs is nftables, and its reject expression for a rejecting cut.
func (f *PartitionFault) Needs() []Feature {
	if f.Action == Reject {
		return []Feature{FeatNFTables, FeatReject}
	}
	return []Feature{FeatNFTables}
}

// Needs is nftables, and: the NFQUEUE stage for faults that hold, copy or
// change packets, numgen for plain loss, HTB for a rate cap.
func (f *GrayFault) Needs() []Feature {
	g := f.Template
	need := []Feature{FeatNFTables}
	if needsQueue(g) {
		need = append(need, FeatNFQueue)
	} else if g.Loss > 0 {
		need = append(need, FeatNumgen)
	}
	if g.Rate > 0 {
		need = append(need, FeatHTB)
	}
	return need
}

// Engine picks the gray engine for this host: netem where the kernel has
// it, else the userspace queue.
func (c Capabilities) Engine() Engine {
	if c.Has[FeatNetem] {
		return EngineNetem
	}
	return EngineQueue
}

// Check refuses a fault the host cannot apply, naming what is missing.
func (c Capabilities) Check(f Fault) error {
	for _, feat := range Needs(f) {
		if feat == FeatNFQueue && c.Has[FeatNetem] && c.Has[FeatHTB] {
			if g, ok := f.(*GrayFault); ok && netemable(g.Template) {
				continue // netem does it
			}
		}
		if !c.Has[feat] {
			return fmt.Errorf("%w: %s needs %s (%s): %s", ErrMissingFeature, f.Name(), feat, kernelOption[feat], c.Why[feat])
		}
	}
	return nil
}
