package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/agent"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the agent: Raft peer, HA loop and REST API beside one PostgreSQL",
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if os.Geteuid() == 0 {
				return fmt.Errorf("PostgreSQL refuses to run as root: run the agent as the postgres OS user (runuser -u postgres -- conclave -c %s run)", cfg.Path)
			}
			if err := cfg.CheckEnvironment(); err != nil {
				return err
			}
			a, err := agent.New(agent.Config{File: cfg, Logger: newLogger(c, cfg), Version: version})
			if err != nil {
				return err
			}
			return a.Run(c.Context)
		},
	}
}
