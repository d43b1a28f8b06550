package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/agent"
	"github.com/conclave-ha/conclave/ctl"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:   "run",
		Usage:  "run the agent: Raft peer, HA loop and REST API beside one PostgreSQL",
		Action: func(c *cli.Context) error { return runNode(c, checkRun, agent.New) },
	}
}

func witnessCommand() *cli.Command {
	return &cli.Command{
		Name:   "witness",
		Usage:  "run a witness: a Raft voter without PostgreSQL (a configuration without a postgresql: section)",
		Action: func(c *cli.Context) error { return runNode(c, nil, agent.NewWitness) },
	}
}

// checkRun refuses, before anything starts, what run cannot do: a
// witness's configuration, or running as root.
func checkRun(cfg agent.Config) error {
	if cfg.File.Witness {
		return ctl.Usage(fmt.Errorf("%s has no postgresql: section: it configures a witness; start it with conclave -c %s witness", cfg.File.Path, cfg.File.Path))
	}
	if os.Geteuid() == 0 {
		return fmt.Errorf("PostgreSQL refuses to run as root: run the agent as the postgres OS user (runuser -u postgres -- conclave -c %s run)", cfg.File.Path)
	}
	return nil
}

// runNode builds the node's configuration (agentConfig, with check), the
// node with build (an agent or a witness), and runs it until the context
// ends.
func runNode[T interface{ Run(context.Context) error }](c *cli.Context, check func(agent.Config) error, build func(agent.Config) (T, error)) error {
	ac, err := agentConfig(c, check)
	if err != nil {
		return err
	}
	node, err := build(ac)
	if err != nil {
		return loggedExit(ac, err)
	}
	return loggedExit(ac, node.Run(c.Context))
}

// loggedExit logs the error the agent stops with as a log line (one JSON
// object under log.type: json) and marks it so main does not print it again
// on stderr, where the log already went; with log.dir it is printed too.
func loggedExit(ac agent.Config, err error) error {
	if err == nil {
		return nil
	}
	ac.Logger.Error("agent stopped", "error", err)
	if ac.File.Log.Dir != "" {
		return err
	}
	return alreadyLogged{err}
}

// alreadyLogged is an error the log has: main exits without printing it.
type alreadyLogged struct{ error }

func (e alreadyLogged) Unwrap() error { return e.error }

// agentConfig loads the file, runs check on it (when set), checks the
// machine and builds the logger; it names in one warning line the keys
// accepted but not acted on.
func agentConfig(c *cli.Context, check func(agent.Config) error) (agent.Config, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return agent.Config{}, err
	}
	ac := agent.Config{File: cfg, Version: buildVersion}
	if check != nil {
		if err := check(ac); err != nil {
			return agent.Config{}, err
		}
	}
	if err := cfg.CheckEnvironment(); err != nil {
		return agent.Config{}, err
	}
	if ac.Logger, err = newLogger(c, cfg); err != nil {
		return agent.Config{}, err
	}
	if len(cfg.Unused) > 0 {
		ac.Logger.Warn("accepted, not acted on", "keys", strings.Join(cfg.UnusedKeys(), ", "), "file", cfg.Path)
	}
	return ac, nil
}
