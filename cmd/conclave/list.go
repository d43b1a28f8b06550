package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

// listFlags are patronictl list's flags (topology has the same).
func listFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "extended", Aliases: []string{"e"}, Usage: "add the Pending restart, Scheduled restart, Tags and Raft role columns"},
		&cli.BoolFlag{Name: "timestamp", Aliases: []string{"t"}, Usage: "print a timestamp before the table"},
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "pretty", Usage: "pretty, tsv, json or yaml"},
		&cli.BoolFlag{Name: "W", Usage: "refresh every 2 seconds"},
		&cli.Float64Flag{Name: "watch", Aliases: []string{"w"}, Usage: "refresh every `SECONDS`"},
	}
}

func listCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "show the members of the cluster (patronictl list)",
		ArgsUsage: "[CLUSTER_NAME]",
		Flags:     listFlags(),
		Action:    func(c *cli.Context) error { return ctl.List(c.Context, verbEnv(c), listOptions(c, false)) },
	}
}

func topologyCommand() *cli.Command {
	return &cli.Command{
		Name:      "topology",
		Usage:     "show the replication tree (patronictl topology)",
		ArgsUsage: "[CLUSTER_NAME]",
		Flags:     listFlags(),
		Action:    func(c *cli.Context) error { return ctl.List(c.Context, verbEnv(c), listOptions(c, true)) },
	}
}

func listOptions(c *cli.Context, topology bool) ctl.ListOptions {
	return ctl.ListOptions{Topology: topology, Extended: c.Bool("extended"), Format: c.String("format"),
		Timestamp: c.Bool("timestamp"), W: c.Bool("W"), Watch: c.Float64("watch")}
}
