package main

import (
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/logfile"
	"github.com/conclave-ha/conclave/vip"
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
			&cli.StringFlag{Name: "vip", Usage: "floating IP (address/prefix) to remove from --vip-interface when the deadline passes"},
			&cli.StringFlag{Name: "vip-interface", Usage: "interface holding --vip"},
			&cli.BoolFlag{Name: "log-json", Usage: "JSON lines as log.type: json (one object per line)"},
		},
		Action: func(c *cli.Context) error {
			logger, err := logfile.NewRoot(logfile.Options{Name: "watchdog", Level: "INFO", JSON: c.Bool("log-json")})
			if err != nil {
				return err
			}
			// Its own session has no terminal, but a stray SIGHUP must not end it.
			signal.Ignore(syscall.SIGHUP)
			opts, err := vip.WatchdogOptions(c.String("vip"), c.String("vip-interface"), logger)
			if err != nil {
				return err
			}
			return watchdog.Serve(c.Context, c.String("data-dir"), c.String("deadline-file"), c.String("pg-bin"), logger, opts...)
		},
	}
}
