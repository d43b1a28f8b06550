package main

import (
	"strings"

	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

func restartCommand() *cli.Command {
	return &cli.Command{
		Name:      "restart",
		Usage:     "restart PostgreSQL on members (patronictl restart); the primary restarts in place, keeping its leader key",
		ArgsUsage: "[CLUSTER_NAME] [MEMBER...]",
		Flags: []cli.Flag{
			memberRoleFlag("restart"),
			&cli.BoolFlag{Name: "any", Usage: "restart a single member only, chosen at random among those selected", EnvVars: []string{"CONCLAVE_ANY"}},
			&cli.BoolFlag{Name: "pending", Usage: "restart only members with a pending restart", EnvVars: []string{"CONCLAVE_PENDING"}},
			&cli.StringFlag{Name: "scheduled", Usage: "when to restart, e.g. 2026-11-30T17:20:44+00:00 (or 'now')", EnvVars: []string{"CONCLAVE_SCHEDULED"}},
			&cli.StringFlag{Name: "pg-version", Usage: "restart only if the PostgreSQL version is lower than this (e.g. 15.2)", EnvVars: []string{"CONCLAVE_PG_VERSION"}},
			&cli.StringFlag{Name: "timeout", Usage: "give up the leader key (fail over) if the primary's restart takes longer (seconds)", EnvVars: []string{"CONCLAVE_TIMEOUT"}},
			&cli.BoolFlag{Name: "force", Usage: "do not ask for confirmation", EnvVars: []string{"CONCLAVE_FORCE"}},
		},
		Action: func(c *cli.Context) error {
			return ctl.Restart(c.Context, verbEnv(c), ctl.RestartOptions{Role: c.String("role"), Any: c.Bool("any"), Pending: c.Bool("pending"),
				Scheduled: c.String("scheduled"), ScheduledSet: c.IsSet("scheduled"), PGVersion: c.String("pg-version"), PGVersionSet: c.IsSet("pg-version"),
				Timeout: c.String("timeout"), Force: c.Bool("force")})
		},
	}
}

func reloadCommand() *cli.Command {
	return &cli.Command{
		Name:      "reload",
		Usage:     "reload each member's configuration file, as SIGHUP does (patronictl reload)",
		ArgsUsage: "[CLUSTER_NAME] [MEMBER...]",
		Flags: []cli.Flag{
			memberRoleFlag("reload"),
			&cli.BoolFlag{Name: "force", Usage: "do not ask for confirmation", EnvVars: []string{"CONCLAVE_FORCE"}},
		},
		Action: func(c *cli.Context) error {
			return ctl.Reload(c.Context, verbEnv(c), ctl.ReloadOptions{Role: c.String("role"), Force: c.Bool("force")})
		},
	}
}

func reinitCommand() *cli.Command {
	return &cli.Command{
		Name:      "reinit",
		Usage:     "re-clone a replica from the leader (patronictl reinit); its old data directory is moved aside, not deleted",
		ArgsUsage: "[CLUSTER_NAME] MEMBER...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "do not ask for confirmation", EnvVars: []string{"CONCLAVE_FORCE"}},
			&cli.BoolFlag{Name: "wait", Usage: "wait until the reinitialization completes", EnvVars: []string{"CONCLAVE_WAIT"}},
		},
		Action: func(c *cli.Context) error {
			return ctl.Reinit(c.Context, verbEnv(c), ctl.ReinitOptions{Force: c.Bool("force"), Wait: c.Bool("wait")})
		},
	}
}

// memberRoleFlag is patronictl's --role/-r of the per-member verbs.
func memberRoleFlag(verb string) cli.Flag {
	return &cli.StringFlag{Name: "role", Aliases: []string{"r"}, Value: "any", Usage: verb + " only members with this `ROLE`: " + strings.Join(ctl.RoleNames, ", "), EnvVars: []string{"CONCLAVE_ROLE"}}
}
