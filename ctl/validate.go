package ctl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/conclave-ha/conclave/config"
)

// ValidateConfig is `patroni --validate-config FILE`: it reads and checks
// the file (the one positional, else -c's configFlag) as `run` would,
// without starting or writing anything; the problems go to env.Err, one a
// line.
func ValidateConfig(env Env, configFlag string) error {
	path := configFlag
	if len(env.Args) > 0 && env.Args[0] != "" {
		path = env.Args[0]
	}
	if path == "" || len(env.Args) > 1 {
		return UsageError{errors.New("validate-config: give one file: conclave validate-config FILE")}
	}
	cfg, err := config.Load(path)
	if err == nil {
		err = cfg.CheckEnvironment() // each line names file:line already
	}
	if err != nil {
		lines := strings.Split(err.Error(), "\n")
		for _, l := range lines {
			fmt.Fprintln(env.Err, l)
		}
		return fmt.Errorf("%s is not valid: %d problem(s)", path, len(lines))
	}
	if line := cfg.UnusedLine(); line != "" {
		fmt.Fprintf(env.Err, "%s: warning: %s\n", path, line)
		for _, u := range cfg.Unused {
			fmt.Fprintf(env.Err, "%s: %s: %s\n", u.Where, u.Key, u.Why)
		}
	}
	fmt.Fprintln(env.Out, "configuration is valid")
	return nil
}
