package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print the version, and each member's with CLUSTER_NAME or MEMBER names (patronictl version)",
		ArgsUsage: "[CLUSTER_NAME [MEMBER_NAMES...]]",
		Action:    func(c *cli.Context) error { return ctl.Version(c.Context, verbEnv(c), buildVersion) },
	}
}
