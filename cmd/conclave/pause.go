package main

import (
	"context"

	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

func pauseCommand() *cli.Command {
	return togglePauseCommand("pause", ctl.Pause, "disable automatic failover: maintenance mode (patronictl pause)")
}

func resumeCommand() *cli.Command {
	return togglePauseCommand("resume", ctl.Resume, "resume automatic failover (patronictl resume)")
}

// togglePauseCommand is pause or resume: toggle is ctl.Pause or ctl.Resume.
func togglePauseCommand(name string, toggle func(context.Context, ctl.Env, bool) error, usage string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "[CLUSTER_NAME]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "wait", Usage: "wait until every member that reports has seen it", EnvVars: []string{"CONCLAVE_PAUSE_WAIT"}},
		},
		Action: func(c *cli.Context) error { return toggle(c.Context, verbEnv(c), c.Bool("wait")) },
	}
}
