// Command etcd is the etcd server, built from the Go module proxy at the
// version pinned in go.mod, so that faultline can ship an etcd image built
// FROM scratch without pulling anything from a registry.
//
// It lives in its own module so that etcd's server dependencies never enter
// faultline's go.mod (docs/design.md, decision 2).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
