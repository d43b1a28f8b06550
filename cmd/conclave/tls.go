package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/certs"
	"github.com/conclave-ha/conclave/ctl"
)

// tlsCommand creates a CA and node certificates for the Raft port (and the
// REST API), as `consul tls ca create` / `consul tls cert create` do.
func tlsCommand() *cli.Command {
	dir := &cli.StringFlag{Name: "dir", Value: ".", Usage: "directory to write the files to", EnvVars: []string{"CONCLAVE_TLS_DIR"}}
	days := &cli.IntFlag{Name: "days", Value: 3650, Usage: "validity in days", EnvVars: []string{"CONCLAVE_TLS_DAYS"}}
	name := &cli.StringFlag{Name: "name-prefix", Value: "conclave", Usage: "file name prefix of the CA (PREFIX-ca.pem, PREFIX-ca-key.pem)", EnvVars: []string{"CONCLAVE_TLS_NAME_PREFIX"}}
	return &cli.Command{
		Name:  "tls",
		Usage: "create a CA and node certificates for raft.certfile/keyfile/cafile",
		Subcommands: []*cli.Command{{
			Name:  "ca",
			Usage: "certificate authority",
			Subcommands: []*cli.Command{{
				Name:  "create",
				Usage: "create PREFIX-ca.pem and PREFIX-ca-key.pem (keep the key offline; give every node PREFIX-ca.pem as raft.cafile)",
				Flags: []cli.Flag{dir, days, name},
				Action: func(c *cli.Context) error {
					ca, err := certs.CreateCAIn(c.String("dir"), c.String("name-prefix"), c.Int("days"))
					if err != nil {
						return fmt.Errorf("tls ca create: %w", err)
					}
					return saved(c, ca.CertFile, ca.KeyFile)
				},
			}},
		}, {
			Name:  "cert",
			Usage: "node certificates",
			Subcommands: []*cli.Command{{
				Name:      "create",
				Usage:     "create NODE.pem and NODE-key.pem signed by the CA, valid as server and client (raft.certfile, raft.keyfile)",
				ArgsUsage: "NODE",
				Flags: []cli.Flag{dir, days, name,
					&cli.StringFlag{Name: "ca", Usage: "CA certificate (default DIR/PREFIX-ca.pem)", EnvVars: []string{"CONCLAVE_TLS_CA"}},
					&cli.StringFlag{Name: "key", Usage: "CA key (default DIR/PREFIX-ca-key.pem)", EnvVars: []string{"CONCLAVE_TLS_CA_KEY"}},
					&cli.StringSliceFlag{Name: "host", Usage: "host name or IP address the certificate names (repeat; default the NODE name, localhost and 127.0.0.1)",
						EnvVars: []string{"CONCLAVE_TLS_HOSTS"}},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 || c.Args().First() == "" {
						return ctl.Usage(fmt.Errorf("tls cert create: name the node: conclave tls cert create NODE"))
					}
					n, err := certs.CreateNodeIn(certs.NodeRequest{Dir: c.String("dir"), Prefix: c.String("name-prefix"), Name: c.Args().First(),
						CAFile: c.String("ca"), CAKeyFile: c.String("key"), Hosts: c.StringSlice("host"), Days: c.Int("days")})
					if err != nil {
						return fmt.Errorf("tls cert create: %w", err)
					}
					return saved(c, n.CertFile, n.KeyFile)
				},
			}},
		}},
	}
}

// saved says which files a tls verb wrote, as consul tls does.
func saved(c *cli.Context, files ...string) error {
	for _, f := range files {
		fmt.Fprintf(c.App.Writer, "==> Saved %s\n", f)
	}
	return nil
}
