package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

func queryCommand() *cli.Command {
	return &cli.Command{
		Name:      "query",
		Usage:     "run SQL on a member, the leader by default (patronictl query)",
		ArgsUsage: "[CLUSTER_NAME]",
		Flags: []cli.Flag{
			roleFlag(),
			&cli.StringFlag{Name: "member", Aliases: []string{"m"}, Usage: "run it on this `MEMBER`"},
			&cli.StringFlag{Name: "command", Aliases: []string{"c"}, Usage: "the SQL `COMMANDS` to run (-c here is --command, as in patronictl; give the configuration file before the verb)"},
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "run the SQL commands in `FILE` (- for stdin)"},
			&cli.StringFlag{Name: "username", Aliases: []string{"U"}, Usage: "database user (default postgresql.authentication.superuser)"},
			&cli.BoolFlag{Name: "password", Usage: "ask for the password"},
			&cli.StringFlag{Name: "dbname", Aliases: []string{"d"}, Value: "postgres", Usage: "database name"},
			&cli.StringFlag{Name: "format", Value: "tsv", Usage: "pretty, tsv, json or yaml"},
			&cli.StringFlag{Name: "delimiter", Value: "\t", Usage: "column delimiter for tsv"},
		},
		Action: func(c *cli.Context) error {
			return ctl.Query(c.Context, verbEnv(c), ctl.QueryOptions{Role: c.String("role"), Member: c.String("member"),
				Command: c.String("command"), CommandSet: c.IsSet("command"), File: c.String("file"), FileSet: c.IsSet("file"),
				Username: c.String("username"), Password: c.Bool("password"), DBName: c.String("dbname"),
				Format: c.String("format"), Delimiter: c.String("delimiter")})
		},
	}
}
