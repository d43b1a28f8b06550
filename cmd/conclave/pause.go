package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

func pauseCommand() *cli.Command {
	return togglePauseCommand("pause", true, "disable automatic failover: maintenance mode (patronictl pause)")
}

func resumeCommand() *cli.Command {
	return togglePauseCommand("resume", false, "resume automatic failover (patronictl resume)")
}

func togglePauseCommand(name string, paused bool, usage string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "[CLUSTER_NAME]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "wait", Usage: "wait until every member that reports has seen it", EnvVars: []string{"CONCLAVE_PAUSE_WAIT"}},
		},
		Action: func(c *cli.Context) error {
			if paused {
				return ctl.Pause(c.Context, verbEnv(c), c.Bool("wait"))
			}
			return ctl.Resume(c.Context, verbEnv(c), c.Bool("wait"))
		},
	}
}
