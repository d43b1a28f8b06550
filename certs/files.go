package certs

import (
	"fmt"
	"os"
	"path/filepath"
)

// What `conclave tls ca create` and `conclave tls cert create NODE` write:
// the files named from a directory and a prefix, the defaults filled in.

// CreateCAIn writes a new CA valid for days days as dir/PREFIX-ca.pem and
// dir/PREFIX-ca-key.pem, named "PREFIX Raft CA".
func CreateCAIn(dir, prefix string, days int) (CA, error) {
	ca := CAFiles(dir, prefix)
	return ca, CreateCA(ca, prefix+" Raft CA", days)
}

// NodeRequest is one node certificate to create in Dir.
type NodeRequest struct {
	Dir, Prefix string   // where the files go; the CA's file name prefix
	Name        string   // the node: Dir/NAME.pem, Dir/NAME-key.pem, the common name
	CAFile      string   // "" is Dir/PREFIX-ca.pem
	CAKeyFile   string   // "" is Dir/PREFIX-ca-key.pem
	Hosts       []string // none: Name, localhost and 127.0.0.1
	Days        int
}

// CreateNodeIn writes the node certificate of r, signed by its CA, and
// returns the files it wrote.
func CreateNodeIn(r NodeRequest) (Node, error) {
	ca := CAFiles(r.Dir, r.Prefix)
	if r.CAFile != "" {
		ca.CertFile = r.CAFile
	}
	if r.CAKeyFile != "" {
		ca.KeyFile = r.CAKeyFile
	}
	hosts := r.Hosts
	if len(hosts) == 0 {
		hosts = []string{r.Name, "localhost", "127.0.0.1"}
	}
	n := Node{CertFile: filepath.Join(r.Dir, r.Name+".pem"), KeyFile: filepath.Join(r.Dir, r.Name+"-key.pem"),
		CommonName: r.Name, Hosts: hosts, Days: r.Days}
	if _, err := os.Stat(ca.KeyFile); err != nil {
		return n, fmt.Errorf("CA key %s: %w (run conclave tls ca create first, or pass --ca and --key)", ca.KeyFile, err)
	}
	return n, CreateNode(ca, n)
}
