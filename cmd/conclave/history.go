package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "show the timeline history (patronictl history)",
		ArgsUsage: "[CLUSTER_NAME]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "pretty", Usage: "pretty, tsv, json or yaml"},
		},
		Action: func(c *cli.Context) error { return ctl.History(c.Context, verbEnv(c), c.String("format")) },
	}
}

func showConfigCommand() *cli.Command {
	return &cli.Command{
		Name:      "show-config",
		Usage:     "show the dynamic configuration (patronictl show-config)",
		ArgsUsage: "[CLUSTER_NAME]",
		Action:    func(c *cli.Context) error { return ctl.ShowConfig(c.Context, verbEnv(c)) },
	}
}
