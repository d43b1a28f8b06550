package config

import (
	"strings"
	"testing"
)

const witnessYAML = `scope: demo
name: w1
restapi:
  listen: 127.0.0.1:8010
raft:
  data_dir: /var/lib/conclave/raft
  self_addr: 127.0.0.1:5010
  partner_addrs: [127.0.0.1:5011, 127.0.0.1:5012]
`

func TestWitness_FileWithoutPostgresql_IsAValidWitness(t *testing.T) {
	c, err := ParseWithEnv([]byte(witnessYAML), "w.yml", noEnv)
	if err != nil {
		t.Fatalf("witness file: %v", err)
	}
	if !c.Witness {
		t.Error("a file without postgresql: is not marked as a witness")
	}
	full, err := ParseWithEnv([]byte(minimal), "conclave.yml", noEnv)
	if err != nil || full.Witness {
		t.Errorf("a file with postgresql: is a witness (%v)", err)
	}
	// A postgresql: section with keys missing still names them.
	_, err = ParseWithEnv([]byte(witnessYAML+"postgresql:\n  listen: 127.0.0.1:5432\n"), "w.yml", noEnv)
	if err == nil || !strings.Contains(err.Error(), "postgresql.data_dir") {
		t.Errorf("partial postgresql: section: %v, want missing postgresql.data_dir", err)
	}
}
