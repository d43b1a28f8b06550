package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

// joinCommand asks a running cluster to add this node; `run` does the rest
// (Raft catch-up, clone, slot, streaming).
func joinCommand() *cli.Command {
	return &cli.Command{
		Name:  "join",
		Usage: "add this node to a running cluster, through any member's REST API; then start it with run",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "via", Usage: "any member's REST address, `HOST:PORT`", EnvVars: []string{"CONCLAVE_JOIN_VIA"}},
		},
		Action: func(c *cli.Context) error { return ctl.Join(c.Context, verbEnv(c), c.String("via")) },
	}
}
