package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/ctl"
	"github.com/conclave-ha/conclave/ctl/cliargs"
)

// How the command line is read: package cliargs (-c before or after the
// verb, flags after positionals), and ctl for patronictl's optional
// CLUSTER_NAME.

// loadConfig reads the configuration file named by -c (see cliargs.ConfigPath).
func loadConfig(c *cli.Context) (*config.Config, error) {
	path := cliargs.ConfigPath(c)
	if path == "" {
		return nil, ctl.Usage(fmt.Errorf("no configuration file: pass -c FILE or set CONCLAVE_CONFIG"))
	}
	return config.Load(path)
}

// verbEnv is the command line as ctl's verbs take it: the configuration
// loader (-c, see cliargs.ConfigPath), the positionals and the terminal.
func verbEnv(c *cli.Context) ctl.Env {
	return ctl.Env{
		LoadConfig: func() (*config.Config, error) { return loadConfig(c) },
		Args:       c.Args().Slice(),
		Verb:       c.Command.Name,
		ArgsUsage:  c.Command.ArgsUsage,
		In:         c.App.Reader,
		Out:        c.App.Writer,
		Err:        c.App.ErrWriter,
	}
}
