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

	"github.com/conclave-ha/conclave/buildinfo"
	"github.com/conclave-ha/conclave/ctl"
	"github.com/conclave-ha/conclave/ctl/cliargs"
)

// version is Conclave's release; revision is the commit the binary was
// built from, set by make build (-ldflags "-X main.revision=...").
var (
	version  = "0.1.0"
	revision = ""
)

// buildVersion is what `conclave version`, the REST API's "patroni":
// {"version"} field and list -e show (package buildinfo).
var buildVersion = buildinfo.Version(version, revision)

// Exit codes: 1 operation failed, 2 usage error.
const (
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp()
	if err := app.RunContext(ctx, cliargs.Interspersed(app, os.Args)); err != nil {
		if !errors.As(err, new(alreadyLogged)) {
			fmt.Fprintf(os.Stderr, "conclave: %v\n", err)
		}
		var usage ctl.UsageError
		if errors.As(err, &usage) {
			os.Exit(exitUsage)
		}
		os.Exit(exitFailed)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "conclave",
		Usage:   "PostgreSQL high availability with Raft built in",
		Version: buildVersion,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "configuration file (patroni.yml layout with a raft: section)",
				EnvVars: []string{"CONCLAVE_CONFIG", "PATRONICTL_CONFIG_FILE"}},
			&cli.StringFlag{Name: "log-level", Usage: "DEBUG, INFO, WARNING or ERROR (overrides log.level)", EnvVars: []string{"CONCLAVE_LOG_LEVEL"}},
			&cli.BoolFlag{Name: "log-json", Usage: "JSON log lines (overrides log.type)", EnvVars: []string{"CONCLAVE_LOG_JSON"}},
		},
		Commands: append(cliargs.WithConfigFlag([]*cli.Command{
			runCommand(),
			witnessCommand(),
			listCommand(),
			topologyCommand(),
			historyCommand(),
			showConfigCommand(),
			editConfigCommand(),
			validateConfigCommand(),
			dsnCommand(),
			haproxyConfigCommand(),
			queryCommand(),
			versionCommand(),
			switchoverCommand(),
			failoverCommand(),
			flushCommand(), // restart and switchover targets (cmd/conclave/flush.go)
			pauseCommand(),
			resumeCommand(),
			restartCommand(),
			reloadCommand(),
			reinitCommand(),
			joinCommand(),
			leaveCommand(),
			backupCommand(),

			removeCommand(),
			watchdogCommand(), // hidden: the agent's fencing sidecar
		}), tlsCommand(), cliargs.WithConfigFlag([]*cli.Command{raftCommand()})[0]),
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return ctl.Usage(err)
		},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(os.Stderr, "conclave: unknown command %q; see 'conclave --help'\n", name)
			os.Exit(exitUsage)
		},
	}
}
