package ctl

import (
	"fmt"
	"io"

	"github.com/conclave-ha/conclave/config"
)

// UsageError marks errors in how the command was called (exit code 2).
type UsageError struct{ error }

// Usage wraps err as a UsageError.
func Usage(err error) error { return UsageError{err} }

// Env is one verb's command line as ctl needs it.
type Env struct {
	// LoadConfig reads the configuration file named by -c. It is called
	// when the verb needs it, so its errors come in the verb's order.
	LoadConfig func() (*config.Config, error)
	Args       []string // the verb's positionals, cluster name included
	Verb       string   // the verb's name, for usage errors
	ArgsUsage  string   // the verb's positionals, for usage errors
	In         io.Reader
	Out, Err   io.Writer
}

// splitCluster reads patronictl's optional CLUSTER_NAME: the first
// positional is the cluster name exactly when it equals scope. named tells
// whether it was given; rest are the positionals after it.
func splitCluster(scope string, args []string) (named bool, rest []string) {
	if len(args) > 0 && args[0] == scope {
		return true, args[1:]
	}
	return false, args
}

// clusterArgs is splitCluster on a verb's positionals; it also refuses
// more positionals than max (max < 0: any number), naming the verb.
func (e Env) clusterArgs(cfg *config.Config, max int) (rest []string, err error) {
	_, rest = splitCluster(cfg.Scope, e.Args)
	if max >= 0 && len(rest) > max {
		return nil, UsageError{fmt.Errorf("%s: unexpected argument %q (usage: conclave %s %s)",
			e.Verb, rest[max], e.Verb, e.ArgsUsage)}
	}
	return rest, nil
}

// verbConfig is what most verbs start with: load the configuration (-c)
// and read the positionals after the optional cluster name, at most max
// of them (max < 0: any number).
func (e Env) verbConfig(max int) (*config.Config, []string, error) {
	cfg, err := e.LoadConfig()
	if err != nil {
		return nil, nil, err
	}
	rest, err := e.clusterArgs(cfg, max)
	if err != nil {
		return nil, nil, err
	}
	return cfg, rest, nil
}
