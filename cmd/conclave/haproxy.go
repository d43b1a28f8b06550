package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

func haproxyConfigCommand() *cli.Command {
	return &cli.Command{
		Name:      "haproxy-config",
		Usage:     "print an HAProxy configuration for the current members (primary and replica ports checked through /primary and /replica?lag=)",
		ArgsUsage: "[CLUSTER_NAME]",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "primary-port", Value: 5000, Usage: "HAProxy `PORT` that leads to the primary"},
			&cli.IntFlag{Name: "replica-port", Value: 5001, Usage: "HAProxy `PORT` that leads to the replicas (round robin)"},
			&cli.IntFlag{Name: "stats-port", Value: 7000, Usage: "HAProxy's statistics page `PORT`"},
			&cli.StringFlag{Name: "lag", Value: "1MB", Usage: "replicas further behind than `LAG` leave the replica port (/replica?lag=)"},
		},
		Action: func(c *cli.Context) error {
			return ctl.HAProxyConfig(c.Context, verbEnv(c), ctl.HAProxyOptions{PrimaryPort: c.Int("primary-port"), ReplicaPort: c.Int("replica-port"),
				StatsPort: c.Int("stats-port"), Lag: c.String("lag")})
		},
	}
}
