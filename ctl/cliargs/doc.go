// Package cliargs gives urfave/cli the command-line conventions of
// patronictl (click):
//
//   - `conclave -c FILE <verb>` and `conclave <verb> -c FILE` both work:
//     WithConfigFlag gives every verb its own -c/--config, and ConfigPath
//     takes the nearest one that was given (the verb's, then the global one,
//     whose value may come from CONCLAVE_CONFIG or PATRONICTL_CONFIG_FILE).
//   - Flags may follow positional arguments, as click allows for patronictl
//     (`conclave restart node2 --pending`): Interspersed moves a verb's flags
//     in front of its positionals before urfave/cli parses them; "--" ends
//     the flags.
//
// It only rearranges and looks up arguments: what they mean is ctl's
// (patronictl's optional CLUSTER_NAME: ctl/env.go) and cmd/conclave's.
package cliargs
