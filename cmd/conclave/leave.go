package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

func leaveCommand() *cli.Command {
	return &cli.Command{
		Name:      "leave",
		Usage:     "take a member out of the cluster for good (this node by default); --force evicts a dead member",
		ArgsUsage: "[CLUSTER_NAME] [MEMBER]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "evict MEMBER, which is dead and will not return", EnvVars: []string{"CONCLAVE_FORCE"}},
		},
		Action: func(c *cli.Context) error { return ctl.Leave(c.Context, verbEnv(c), c.Bool("force")) },
	}
}
