// Command conclave is the Conclave agent and its patronictl-like CLI.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is Conclave's version, shown by `conclave version` and in the
// REST API's "patroni": {"version"} field.
var version = "0.1.0"

// Exit codes: 1 operation failed, 2 usage error.
const (
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp()
	if err := app.RunContext(ctx, os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "conclave: %v\n", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(exitUsage)
		}
		os.Exit(exitFailed)
	}
}

// usageError marks errors in how the command was called.
type usageError struct{ error }

func newApp() *cli.App {
	return &cli.App{
		Name:    "conclave",
		Usage:   "PostgreSQL high availability with Raft built in",
		Version: version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "configuration file (patroni.yml layout with a raft: section)",
				EnvVars: []string{"CONCLAVE_CONFIG", "PATRONICTL_CONFIG_FILE"}},
			&cli.StringFlag{Name: "log-level", Usage: "DEBUG, INFO, WARNING or ERROR (overrides log.level)", EnvVars: []string{"CONCLAVE_LOG_LEVEL"}},
			&cli.BoolFlag{Name: "log-json", Usage: "JSON log lines (overrides log.format)", EnvVars: []string{"CONCLAVE_LOG_JSON"}},
		},
		Commands: []*cli.Command{
			runCommand(),
			listCommand(),
			topologyCommand(),
			historyCommand(),
			showConfigCommand(),
			versionCommand(),
			watchdogCommand(), // hidden: the agent's fencing sidecar
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(os.Stderr, "conclave: unknown command %q; see 'conclave --help'\n", name)
			os.Exit(exitUsage)
		},
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(c *cli.Context) error {
			fmt.Printf("conclave version %s\n", version)
			return nil
		},
	}
}
