package main

import (
	"strings"

	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

func roleFlag() cli.Flag {
	return &cli.StringFlag{Name: "role", Aliases: []string{"r"}, Usage: "a member with this `ROLE`: " + strings.Join(ctl.RoleNames, ", ")}
}

func dsnCommand() *cli.Command {
	return &cli.Command{
		Name:      "dsn",
		Usage:     "print a libpq connection string for a member, the leader by default (patronictl dsn)",
		ArgsUsage: "[CLUSTER_NAME]",
		Flags: []cli.Flag{
			roleFlag(),
			&cli.StringFlag{Name: "member", Aliases: []string{"m"}, Usage: "the `MEMBER` to connect to"},
			&cli.BoolFlag{Name: "multi-host", Usage: "every member in one libpq multi-host string; libpq picks the one in the role (target_session_attrs)"},
		},
		Action: func(c *cli.Context) error {
			return ctl.DSN(c.Context, verbEnv(c), ctl.DSNOptions{Role: c.String("role"), Member: c.String("member"), MultiHost: c.Bool("multi-host")})
		},
	}
}
