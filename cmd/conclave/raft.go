package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/conclave-ha/conclave/ctl/cliargs"
	"github.com/urfave/cli/v2"
)

// raftCommand groups the Raft state's backup and recovery verbs.
func raftCommand() *cli.Command {
	return &cli.Command{
		Name:  "raft",
		Usage: "back up, restore and recover the Raft state",
		Subcommands: cliargs.WithConfigFlag([]*cli.Command{{
			Name:  "snapshot",
			Usage: "save or restore the replicated state",
			Subcommands: cliargs.WithConfigFlag([]*cli.Command{{
				Name:      "save",
				Usage:     "write the replicated state to FILE (through this node's Raft port)",
				ArgsUsage: "FILE",
				Action:    func(c *cli.Context) error { return ctl.SnapshotSave(c.Context, verbEnv(c)) },
			}, {
				Name:      "restore",
				Usage:     "restore the dynamic configuration of FILE into the running cluster (leader key, sync set and members stay the live cluster's)",
				ArgsUsage: "FILE",
				Action:    func(c *cli.Context) error { return ctl.SnapshotRestore(c.Context, verbEnv(c)) },
			}}),
		}, {
			Name: "recover",
			Usage: "after a permanent loss of a Raft majority: with this node's agent stopped, make the given survivors the only voters " +
				"(run it on every survivor with the same --voters, then start their agents)",
			Flags: []cli.Flag{&cli.StringSliceFlag{Name: "voters", Required: true,
				Usage: "raft.self_addr of every surviving node, this one included (repeat or comma-separate)", EnvVars: []string{"CONCLAVE_RECOVER_VOTERS"}}},
			Action: func(c *cli.Context) error { return ctl.RaftRecover(c.Context, verbEnv(c), c.StringSlice("voters")) },
		}}),
	}
}
