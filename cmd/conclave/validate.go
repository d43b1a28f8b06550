package main

import (
	"github.com/conclave-ha/conclave/ctl"
	"github.com/conclave-ha/conclave/ctl/cliargs"
	"github.com/urfave/cli/v2"
)

// validateConfigCommand is Patroni's `patroni --validate-config FILE`: it
// reads and checks the file as `run` would (keys, types, values, addresses,
// and the machine: directories, PostgreSQL binaries, free listen ports)
// without starting or writing anything.
func validateConfigCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate-config",
		Usage:     "check a configuration file without starting anything (patroni --validate-config)",
		ArgsUsage: "FILE",
		Action:    func(c *cli.Context) error { return ctl.ValidateConfig(verbEnv(c), cliargs.ConfigPath(c)) },
	}
}
