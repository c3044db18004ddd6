package docker

import "github.com/docker/docker/client"

// ForeignCluster is a Cluster value for containers of another run, for the
// test that faultline refuses to touch them.
func ForeignCluster(cli *client.Client, runID string, nodes []Node) *Cluster {
	return &Cluster{cli: cli, RunID: runID, Nodes: nodes}
}
