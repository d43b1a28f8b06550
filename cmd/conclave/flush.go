package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

// flush is patronictl's `flush CLUSTER restart|switchover`: it discards
// scheduled restarts (DELETE /restart on each member that has one) or the
// scheduled switchover (DELETE /switchover, asked of the leader first, then
// the other members until one answers).
func flushCommand() *cli.Command {
	return &cli.Command{
		Name:      "flush",
		Usage:     "discard scheduled events (patronictl flush): restart or switchover",
		ArgsUsage: "[CLUSTER_NAME] [MEMBER...] restart|switchover",
		Flags: []cli.Flag{
			memberRoleFlag("flush"),
			&cli.BoolFlag{Name: "force", Usage: "do not ask for confirmation", EnvVars: []string{"CONCLAVE_FORCE"}},
		},
		Action: func(c *cli.Context) error {
			return ctl.Flush(c.Context, verbEnv(c), ctl.FlushOptions{Role: c.String("role"), Force: c.Bool("force")})
		},
	}
}
