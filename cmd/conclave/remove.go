package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

// removeCommand is patronictl's remove: forget the cluster's replicated
// state once the operator typed its name and the confirmation. The Raft
// leader refuses while a leader lease may be trusted; PostgreSQL data is
// never touched, and the agents rebuild the state from it (ha/rebuild.go).
func removeCommand() *cli.Command {
	return &cli.Command{
		Name:      "remove",
		Usage:     "forget the cluster's state (dynamic configuration kept); the agents rebuild it from their data",
		ArgsUsage: "CLUSTER_NAME",
		Action:    func(c *cli.Context) error { return ctl.Remove(c.Context, verbEnv(c)) },
	}
}
