package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/ctl"
)

// Argument handling shared by every verb.
//
//   - `conclave -c FILE <verb>` and `conclave <verb> -c FILE` both work:
//     withConfigFlag gives every verb its own -c/--config, and configPath
//     takes the nearest one that was given (the verb's, then the global one,
//     whose value may come from CONCLAVE_CONFIG or PATRONICTL_CONFIG_FILE).
//   - Flags may follow positional arguments, as click allows for patronictl
//     (`conclave restart node2 --pending`): interspersed moves a verb's flags
//     in front of its positionals before urfave/cli parses them; "--" ends
//     the flags.
//   - patronictl's CLUSTER_NAME is optional: the first positional is the
//     cluster name exactly when it equals the configuration's scope
//     (splitCluster), so `restart demo --pending` means every member and
//     `restart demo node2` and `restart node2` both mean node2.

// withConfigFlag adds -c/--config to every command that does not define it.
// The verb-level flag has no EnvVars, so an explicit global -c is never
// overridden by the environment.
func withConfigFlag(cmds []*cli.Command) []*cli.Command {
	for _, cmd := range cmds {
		if hasFlag(cmd.Flags, "config") {
			continue
		}
		var aliases []string
		if !hasFlag(cmd.Flags, "c") { // query's -c is --command, as in patronictl
			aliases = []string{"c"}
		}
		cmd.Flags = append(cmd.Flags, &cli.StringFlag{Name: "config", Aliases: aliases,
			Usage: "configuration file (also before the command: conclave -c FILE " + cmd.Name + ")"})
	}
	return cmds
}

func hasFlag(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// configPath returns the -c given nearest to the verb, or "".
func configPath(c *cli.Context) string {
	for _, x := range c.Lineage() {
		if x.IsSet("config") {
			return x.String("config")
		}
	}
	return ""
}

// loadConfig reads the configuration file named by -c (see configPath).
func loadConfig(c *cli.Context) (*config.Config, error) {
	path := configPath(c)
	if path == "" {
		return nil, ctl.Usage(fmt.Errorf("no configuration file: pass -c FILE or set CONCLAVE_CONFIG"))
	}
	return config.Load(path)
}

// verbEnv is the command line as ctl's verbs take it: the configuration
// loader (-c, see configPath), the positionals and the terminal.
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

// interspersed rewrites args so that within the verb's arguments every
// flag (with its value) comes before the positionals. Global flags before
// the verb and everything after "--" are left as they are.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		if takesValue(app.Flags, args[i]) {
			i++
		}
		i++
	}
	if i >= len(args) {
		return args
	}
	cmd := app.Command(args[i])
	for cmd != nil && i+1 < len(args) && subcommand(cmd, args[i+1]) != nil { // raft snapshot save
		i++
		cmd = subcommand(cmd, args[i])
	}
	if cmd == nil || cmd.SkipFlagParsing {
		return args
	}
	out := append([]string(nil), args[:i+1]...)
	var flags, pos []string
	rest := args[i+1:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case a == "--":
			pos = append(pos, rest[j:]...)
			j = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			if takesValue(cmd.Flags, a) && j+1 < len(rest) {
				j++
				flags = append(flags, rest[j])
			}
		default:
			pos = append(pos, a)
		}
	}
	return append(append(out, flags...), pos...)
}

// subcommand returns cmd's subcommand called name, nil when none.
func subcommand(cmd *cli.Command, name string) *cli.Command {
	for _, sub := range cmd.Subcommands {
		if sub.HasName(name) {
			return sub
		}
	}
	return nil
}

// takesValue reports whether arg ("-c", "--config") names a flag of flags
// that takes its value from the next argument.
func takesValue(flags []cli.Flag, arg string) bool {
	if strings.Contains(arg, "=") {
		return false
	}
	name := strings.TrimLeft(arg, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if d, ok := f.(cli.DocGenerationFlag); ok {
				return d.TakesValue()
			}
			return false
		}
	}
	return false
}
