package main

import (
	"fmt"
	"os"
	"path/filepath"

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
					ca := certs.CAFiles(c.String("dir"), c.String("name-prefix"))
					if err := certs.CreateCA(ca, c.String("name-prefix")+" Raft CA", c.Int("days")); err != nil {
						return fmt.Errorf("tls ca create: %w", err)
					}
					fmt.Fprintf(c.App.Writer, "==> Saved %s\n==> Saved %s\n", ca.CertFile, ca.KeyFile)
					return nil
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
					node := c.Args().First()
					ca := certs.CAFiles(c.String("dir"), c.String("name-prefix"))
					if v := c.String("ca"); v != "" {
						ca.CertFile = v
					}
					if v := c.String("key"); v != "" {
						ca.KeyFile = v
					}
					hosts := c.StringSlice("host")
					if len(hosts) == 0 {
						hosts = []string{node, "localhost", "127.0.0.1"}
					}
					n := certs.Node{CertFile: filepath.Join(c.String("dir"), node+".pem"), KeyFile: filepath.Join(c.String("dir"), node+"-key.pem"),
						CommonName: node, Hosts: hosts, Days: c.Int("days")}
					if _, err := os.Stat(ca.KeyFile); err != nil {
						return fmt.Errorf("tls cert create: CA key %s: %w (run conclave tls ca create first, or pass --ca and --key)", ca.KeyFile, err)
					}
					if err := certs.CreateNode(ca, n); err != nil {
						return fmt.Errorf("tls cert create: %w", err)
					}
					fmt.Fprintf(c.App.Writer, "==> Saved %s\n==> Saved %s\n", n.CertFile, n.KeyFile)
					return nil
				},
			}},
		}},
	}
}
