package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

func editConfigCommand() *cli.Command {
	return &cli.Command{
		Name:      "edit-config",
		Usage:     "change the dynamic configuration (patronictl edit-config)",
		ArgsUsage: "[CLUSTER_NAME]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "set", Aliases: []string{"s"}, Usage: "set KEY=VALUE (dotted key, VALUE read as YAML; empty VALUE or null removes the key); repeatable"},
			&cli.StringSliceFlag{Name: "pg", Aliases: []string{"p"}, Usage: "set PostgreSQL parameter PARAM=VALUE (postgresql.parameters.PARAM); repeatable"},
			&cli.StringFlag{Name: "apply", Usage: "merge the YAML in `FILE` (- for stdin) into the configuration"},
			&cli.StringFlag{Name: "replace", Usage: "replace the configuration with the YAML in `FILE` (- for stdin)"},
			&cli.BoolFlag{Name: "force", Usage: "apply without asking"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "do not show the changes"},
		},
		Action: func(c *cli.Context) error {
			return ctl.EditConfig(c.Context, verbEnv(c), ctl.EditConfigOptions{Set: c.StringSlice("set"), PG: c.StringSlice("pg"),
				Apply: c.String("apply"), Replace: c.String("replace"), Force: c.Bool("force"), Quiet: c.Bool("quiet")})
		},
	}
}
