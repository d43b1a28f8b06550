package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

// switchoverCommand is patronictl switchover: from the leader to a
// candidate, now or at a scheduled time.
func switchoverCommand() *cli.Command {
	return &cli.Command{
		Name:      "switchover",
		Usage:     "switch the primary role over to another member (patronictl switchover)",
		ArgsUsage: "[CLUSTER_NAME]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "leader", Aliases: []string{"primary", "master"}, Usage: "the current leader", EnvVars: []string{"CONCLAVE_SWITCHOVER_LEADER"}},
			&cli.StringFlag{Name: "candidate", Usage: "the member to promote (default: the best one)", EnvVars: []string{"CONCLAVE_SWITCHOVER_CANDIDATE"}},
			&cli.StringFlag{Name: "scheduled", Usage: "when: 'now' or a time such as 2026-11-30T17:20:44+00:00", EnvVars: []string{"CONCLAVE_SWITCHOVER_SCHEDULED"}},
			&cli.BoolFlag{Name: "force", Usage: "do not ask for confirmation", EnvVars: []string{"CONCLAVE_FORCE"}},
		},
		Action: func(c *cli.Context) error { return ctl.Switchover(c.Context, verbEnv(c), failoverOptions(c)) },
	}
}

// failoverCommand is patronictl failover: promote a named candidate, also
// when there is no leader.
func failoverCommand() *cli.Command {
	return &cli.Command{
		Name:      "failover",
		Usage:     "promote a named member, also without a leader (patronictl failover)",
		ArgsUsage: "[CLUSTER_NAME]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "leader", Aliases: []string{"primary", "master"}, Usage: "the current leader (makes it a switchover, as in patronictl)", EnvVars: []string{"CONCLAVE_FAILOVER_LEADER"}},
			&cli.StringFlag{Name: "candidate", Usage: "the member to promote", EnvVars: []string{"CONCLAVE_FAILOVER_CANDIDATE"}},
			&cli.BoolFlag{Name: "force", Usage: "do not ask for confirmation", EnvVars: []string{"CONCLAVE_FORCE"}},
		},
		Action: func(c *cli.Context) error { return ctl.Failover(c.Context, verbEnv(c), failoverOptions(c)) },
	}
}

func failoverOptions(c *cli.Context) ctl.FailoverOptions {
	return ctl.FailoverOptions{Leader: c.String("leader"), Candidate: c.String("candidate"),
		Scheduled: c.String("scheduled"), ScheduledSet: c.IsSet("scheduled"), Force: c.Bool("force")}
}
