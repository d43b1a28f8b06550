package cliargs

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// WithConfigFlag adds -c/--config to every command that does not define it.
// The verb-level flag has no EnvVars, so an explicit global -c is never
// overridden by the environment.
func WithConfigFlag(cmds []*cli.Command) []*cli.Command {
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

// ConfigPath returns the -c given nearest to the verb, or "".
func ConfigPath(c *cli.Context) string {
	for _, x := range c.Lineage() {
		if x.IsSet("config") {
			return x.String("config")
		}
	}
	return ""
}

// Interspersed rewrites args so that within the verb's arguments every
// flag (with its value) comes before the positionals. Global flags before
// the verb and everything after "--" are left as they are.
func Interspersed(app *cli.App, args []string) []string {
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
