// Package certtest writes a throw-away CA, a server certificate for
// 127.0.0.1/localhost and a client certificate, for tests.
package certtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Set is the paths of one generated set. ServerPEM and ClientPEM hold the
// certificate and the key together; OtherClientPEM is signed by another CA.
type Set struct {
	CA, ServerCert, ServerKey, ServerPEM, ClientCert, ClientKey, ClientPEM, OtherClientPEM string
}

// Write generates a Set in dir (readable by everyone, so agents running
// as another OS user can read it).
func Write(t testing.TB, dir string) Set {
	t.Helper()
	ca, caKey := newCA(t, "conclave test CA")
	other, otherKey := newCA(t, "other CA")
	s := Set{
		CA:             filepath.Join(dir, "ca.pem"),
		ServerCert:     filepath.Join(dir, "server.crt"),
		ServerKey:      filepath.Join(dir, "server.key"),
		ServerPEM:      filepath.Join(dir, "server.pem"),
		ClientCert:     filepath.Join(dir, "client.crt"),
		ClientKey:      filepath.Join(dir, "client.key"),
		ClientPEM:      filepath.Join(dir, "client.pem"),
		OtherClientPEM: filepath.Join(dir, "other-client.pem"),
	}
	write(t, s.CA, certPEM(ca.Raw))
	sc, sk := leaf(t, ca, caKey, "server", x509.ExtKeyUsageServerAuth)
	write(t, s.ServerCert, sc)
	write(t, s.ServerKey, sk)
	write(t, s.ServerPEM, append(append([]byte{}, sc...), sk...))
	cc, ck := leaf(t, ca, caKey, "client", x509.ExtKeyUsageClientAuth)
	write(t, s.ClientCert, cc)
	write(t, s.ClientKey, ck)
	write(t, s.ClientPEM, append(append([]byte{}, cc...), ck...))
	oc, ok := leaf(t, other, otherKey, "intruder", x509.ExtKeyUsageClientAuth)
	write(t, s.OtherClientPEM, append(oc, ok...))
	return s
}

func newCA(t testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, key := issue(t, tmpl, tmpl, nil)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func leaf(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, usage x509.ExtKeyUsage) (certOut, keyOut []byte) {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:  pkix.Name{CommonName: name},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, key := issue(t, tmpl, ca, caKey)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM(der), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// issue makes a key and a certificate for tmpl valid for a day, signed by
// parent's key (nil: self-signed).
func issue(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parentKey == nil {
		parentKey = key
	}
	tmpl.SerialNumber = serial(t)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
