package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

func leaveCommand() *cli.Command {
	return &cli.Command{
		Name:      "leave",
		Usage:     "take a member out of the cluster for good (this node by default); --evict (or --force) removes a dead member, or by HOST:PORT a Raft server without a member record",
		ArgsUsage: "[CLUSTER_NAME] [MEMBER | HOST:PORT]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "evict", Usage: "evict MEMBER (or the Raft server at HOST:PORT), which is dead and will not return", EnvVars: []string{"CONCLAVE_LEAVE_EVICT"}},
			&cli.BoolFlag{Name: "force", Usage: "do not ask for confirmation; a MEMBER that does not answer is evicted", EnvVars: []string{"CONCLAVE_FORCE"}},
		},
		Action: func(c *cli.Context) error {
			return ctl.Leave(c.Context, verbEnv(c), ctl.LeaveOptions{Evict: c.Bool("evict"), Force: c.Bool("force")})
		},
	}
}
