package backup

import (
	"fmt"
)

// MethodOption is a --key=value argument from a method's section.
type MethodOption struct{ Key, Value string }

// ReplicaArgs are the arguments Patroni gives a create_replica_methods
// command: --scope, --role=replica, --datadir and --connstring (unless
// no_params), then every other key of the method's section as --key=value.
func ReplicaArgs(scope, dataDir, connstring string, noParams bool, opts []MethodOption) []string {
	var args []string
	if !noParams {
		args = append(args, "--scope="+scope, "--role=replica", "--datadir="+dataDir, "--connstring="+connstring)
	}
	return appendOptions(args, opts)
}

// BootstrapArgs are the arguments Patroni gives a custom bootstrap
// command: --scope and --datadir (unless no_params), then the section's
// other keys as --key=value.
func BootstrapArgs(scope, dataDir string, noParams bool, opts []MethodOption) []string {
	var args []string
	if !noParams {
		args = append(args, "--scope="+scope, "--datadir="+dataDir)
	}
	return appendOptions(args, opts)
}

func appendOptions(args []string, opts []MethodOption) []string {
	for _, o := range opts {
		args = append(args, fmt.Sprintf("--%s=%s", o.Key, o.Value))
	}
	return args
}

// Shell returns the program and arguments that run command (a shell
// command line, as written in the file, so quoting works as an operator
// expects) with args appended as separate, unquoted-safe words:
//
//	/bin/sh -c '<command> "$@"' sh <args...>
func Shell(command string, args []string) (string, []string) {
	return "/bin/sh", append([]string{"-c", command + ` "$@"`, "sh"}, args...)
}
