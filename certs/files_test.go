package certs

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// tls cert create NODE without --host names the node, localhost and
// 127.0.0.1, and is signed by DIR/PREFIX-ca.pem.
func TestCreateNodeIn_DefaultsFromDirPrefixAndName(t *testing.T) {
	dir := t.TempDir()
	ca, err := CreateCAIn(dir, "demo", 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := CAFiles(dir, "demo"); ca != want {
		t.Fatalf("CA files %+v, want %+v", ca, want)
	}
	n, err := CreateNodeIn(NodeRequest{Dir: dir, Prefix: "demo", Name: "node1", Days: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n.CertFile != filepath.Join(dir, "node1.pem") || n.KeyFile != filepath.Join(dir, "node1-key.pem") {
		t.Fatalf("node files %+v", n)
	}
	pair, err := KeyPair(Files{CertFile: n.CertFile, KeyFile: n.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{cert.Subject.CommonName, strings.Join(cert.DNSNames, ","), cert.IPAddresses[0].String()}; !reflect.DeepEqual(got,
		[]string{"node1", "node1,localhost", "127.0.0.1"}) {
		t.Fatalf("certificate names %q", got)
	}
	pool, err := CAPool(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("not signed by the CA: %v", err)
	}
}

// Without the CA key the error says what to run, and nothing is written.
func TestCreateNodeIn_NoCAKey_SaysWhatToRun(t *testing.T) {
	dir := t.TempDir()
	n, err := CreateNodeIn(NodeRequest{Dir: dir, Prefix: "conclave", Name: "node1", Days: 1})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "run conclave tls ca create first, or pass --ca and --key") {
		t.Fatalf("err %v", err)
	}
	if _, err := KeyPair(Files{CertFile: n.CertFile, KeyFile: n.KeyFile}); err == nil {
		t.Fatal("a node certificate was written without a CA")
	}
}
