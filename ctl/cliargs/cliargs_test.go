package cliargs

import (
	"reflect"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestInterspersed_FlagsAfterPositionalsMoveInFront(t *testing.T) {
	app := &cli.App{
		Flags: []cli.Flag{&cli.StringFlag{Name: "config", Aliases: []string{"c"}}, &cli.BoolFlag{Name: "log-json"}},
		Commands: WithConfigFlag([]*cli.Command{{Name: "restart", Aliases: []string{"rs"}, Flags: []cli.Flag{
			&cli.BoolFlag{Name: "pending"}, &cli.StringFlag{Name: "role", Aliases: []string{"r"}},
		}}}),
	}
	for _, c := range []struct{ in, want []string }{
		{[]string{"conclave", "-c", "f.yml", "restart", "demo", "node2", "--pending"},
			[]string{"conclave", "-c", "f.yml", "restart", "--pending", "demo", "node2"}},
		{[]string{"conclave", "restart", "node2", "-c", "f.yml", "-r", "replica"},
			[]string{"conclave", "restart", "-c", "f.yml", "-r", "replica", "node2"}},
		{[]string{"conclave", "--log-json", "rs", "node2", "--role=any"},
			[]string{"conclave", "--log-json", "rs", "--role=any", "node2"}},
		{[]string{"conclave", "restart", "node2", "--", "--pending"},
			[]string{"conclave", "restart", "node2", "--", "--pending"}},
		{[]string{"conclave", "nosuch", "x", "-y"}, []string{"conclave", "nosuch", "x", "-y"}},
		{[]string{"conclave"}, []string{"conclave"}},
	} {
		if got := Interspersed(app, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Interspersed(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestConfigFlag_AfterTheVerbOrBefore_BothReachTheVerb(t *testing.T) {
	for _, args := range [][]string{
		{"conclave", "-c", "a.yml", "show"},
		{"conclave", "show", "-c", "a.yml"},
		{"conclave", "-c", "b.yml", "show", "--config", "a.yml"},
	} {
		var got string
		app := &cli.App{
			Flags:    []cli.Flag{&cli.StringFlag{Name: "config", Aliases: []string{"c"}}},
			Commands: WithConfigFlag([]*cli.Command{{Name: "show", Action: func(c *cli.Context) error { got = ConfigPath(c); return nil }}}),
		}
		if err := app.Run(Interspersed(app, args)); err != nil {
			t.Fatal(err)
		}
		if got != "a.yml" {
			t.Errorf("%q: config %q, want a.yml", args, got)
		}
	}
}
