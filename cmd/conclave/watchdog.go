package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/watchdog"
)

// watchdogCommand is the hidden `conclave watchdog` subcommand the agent
// starts; see package watchdog.
func watchdogCommand() *cli.Command {
	return &cli.Command{
		Name:   "watchdog",
		Hidden: true,
		Usage:  "fence PostgreSQL (SIGQUIT to the postmaster) when the agent's lease deadline passes; started by the agent",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Required: true, Usage: "PostgreSQL data directory (postmaster.pid)"},
			&cli.StringFlag{Name: "deadline-file", Required: true, Usage: "file the agent writes the CLOCK_MONOTONIC deadline (ns) into; 0 = disarmed"},
			&cli.StringFlag{Name: "pg-bin", Usage: "PostgreSQL bin directory (logged only: the watchdog runs no PostgreSQL program)"},
		},
		Action: func(c *cli.Context) error {
			logger := hclog.New(&hclog.LoggerOptions{
				Name:       "watchdog",
				Level:      hclog.Info,
				Output:     os.Stderr,
				TimeFormat: "2006-01-02T15:04:05.000Z0700",
			})
			// Its own session has no terminal, but a stray SIGHUP must not end it.
			signal.Ignore(syscall.SIGHUP)
			return watchdog.Serve(c.Context, c.String("data-dir"), c.String("deadline-file"), c.String("pg-bin"), logger)
		},
	}
}
