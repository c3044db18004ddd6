package nemesis_test

import (
	"testing"

	"github.com/faultline/faultline/nemesis"
)

func TestParseRate(t *testing.T) {
	if bps, err := nemesis.ParseRate("256kbit"); err != nil || bps != 256000 {
		t.Errorf("256kbit = %d, %v", bps, err)
	}
	if bps, err := nemesis.ParseRate("1mbps"); err != nil || bps != 8_000_000 {
		t.Errorf("1mbps = %d, %v", bps, err)
	}
}
