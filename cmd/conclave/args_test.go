package main

import (
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/ctl/cliargs"
)

func TestConfigFlag_FromEnvironment_ReachesTheVerb(t *testing.T) {
	for _, env := range []string{"CONCLAVE_CONFIG", "PATRONICTL_CONFIG_FILE"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "e.yml")
			var got string
			app := newApp()
			app.Commands = cliargs.WithConfigFlag([]*cli.Command{{Name: "show", Action: func(c *cli.Context) error { got = cliargs.ConfigPath(c); return nil }}})
			if err := app.Run([]string{"conclave", "show"}); err != nil {
				t.Fatal(err)
			}
			if got != "e.yml" {
				t.Fatalf("config %q, want e.yml", got)
			}
		})
	}
}
