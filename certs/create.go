package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Creating a CA and node certificates for `conclave tls ca create` and
// `conclave tls cert create` (as consul tls does). Keys are ECDSA P-256,
// written unencrypted with mode 0600; certificates with mode 0644. An
// existing file is never overwritten.

// CA names the files of a certificate authority.
type CA struct {
	CertFile, KeyFile string
}

// CAFiles returns the CA's file names in dir: <name>-ca.pem, <name>-ca-key.pem.
func CAFiles(dir, name string) CA {
	return CA{CertFile: filepath.Join(dir, name+"-ca.pem"), KeyFile: filepath.Join(dir, name+"-ca-key.pem")}
}

// CreateCA writes a new self-signed CA valid for days days.
func CreateCA(ca CA, commonName string, days int) error {
	if err := refuseExisting(ca.CertFile, ca.KeyFile); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().AddDate(0, 0, days),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("create CA certificate: %w", err)
	}
	return writePair(ca.CertFile, der, ca.KeyFile, key)
}

// Node describes one node certificate.
type Node struct {
	CertFile, KeyFile string
	CommonName        string
	Hosts             []string // DNS names and IP addresses it is valid for
	Days              int
}

// CreateNode writes a certificate for a node, signed by ca, usable both as
// a server and as a client certificate (Raft peers are both).
func CreateNode(ca CA, n Node) error {
	if err := refuseExisting(n.CertFile, n.KeyFile); err != nil {
		return err
	}
	caPair, err := KeyPair(Files{CertFile: ca.CertFile, KeyFile: ca.KeyFile})
	if err != nil {
		return fmt.Errorf("CA %s: %w", ca.CertFile, err)
	}
	caCert, err := x509.ParseCertificate(caPair.Certificate[0])
	if err != nil {
		return fmt.Errorf("CA %s: %w", ca.CertFile, err)
	}
	if !caCert.IsCA {
		return fmt.Errorf("%s is not a CA certificate", ca.CertFile)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: n.CommonName},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().AddDate(0, 0, n.Days),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range n.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caPair.PrivateKey)
	if err != nil {
		return fmt.Errorf("sign node certificate: %w", err)
	}
	return writePair(n.CertFile, der, n.KeyFile, key)
}

func refuseExisting(files ...string) error {
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			return fmt.Errorf("%s exists: not overwriting it (remove it or choose another name)", f)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func writePair(certFile string, der []byte, keyFile string, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		os.Remove(keyFile)
		return fmt.Errorf("write certificate: %w", err)
	}
	return nil
}

func serialNumber() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

// Peer loads the Raft port's TLS material: this node's key pair
// (Certificates) and the CA that signs every member (RootCAs); raftstore
// derives the client and server settings from it. All three files are
// required.
func Peer(f Files) (*tls.Config, error) {
	if f.CertFile == "" || f.CAFile == "" {
		return nil, errors.New("certfile, keyfile and cafile are all required for mutual TLS")
	}
	pair, err := KeyPair(f)
	if err != nil {
		return nil, err
	}
	pool, err := CAPool(f.CAFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
