package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

func backupCommand() *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "take a pgBackRest backup, from a streaming replica by default so the primary is not loaded",
		ArgsUsage: "[CLUSTER_NAME]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "type", Value: "full", Usage: "full, diff or incr", EnvVars: []string{"CONCLAVE_BACKUP_TYPE"}},
			&cli.StringFlag{Name: "from", Value: "replica", Usage: "replica (pgBackRest backup-standby) or primary", EnvVars: []string{"CONCLAVE_BACKUP_FROM"}},
			&cli.StringFlag{Name: "member", Usage: "the replica to run it on (default: the streaming replica with the least lag)", EnvVars: []string{"CONCLAVE_BACKUP_MEMBER"}},
		},
		Action: func(c *cli.Context) error {
			return ctl.Backup(c.Context, verbEnv(c), ctl.BackupOptions{Type: c.String("type"), From: c.String("from"), Member: c.String("member")})
		},
		Subcommands: []*cli.Command{{
			Name:      "list",
			Usage:     "show the repository's backups",
			ArgsUsage: "[CLUSTER_NAME]",
			Action:    func(c *cli.Context) error { return ctl.BackupList(c.Context, verbEnv(c)) },
		}},
	}
}
