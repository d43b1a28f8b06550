package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Files names what to load. KeyFile may be the same file as CertFile.
type Files struct {
	CertFile, KeyFile, KeyPassword, CAFile string
}

// KeyPair loads CertFile and KeyFile (KeyFile defaults to CertFile). An
// encrypted key is decrypted with KeyPassword: legacy PEM encryption
// ("Proc-Type: 4,ENCRYPTED") and PKCS#8 "ENCRYPTED PRIVATE KEY" (PBES2 with
// PBKDF2 and AES-CBC, what OpenSSL 3 writes).
func KeyPair(f Files) (tls.Certificate, error) {
	keyFile := f.KeyFile
	if keyFile == "" {
		keyFile = f.CertFile
	}
	certPEM, err := os.ReadFile(f.CertFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("read certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("read key: %w", err)
	}
	keyDER, err := privateKeyDER(keyPEM, f.KeyPassword)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key %s: %w", keyFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyDER)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate %s with key %s: %w", f.CertFile, keyFile, err)
	}
	return cert, nil
}

// CAPool loads a PEM bundle of CA certificates.
func CAPool(file string) (*x509.CertPool, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("CA bundle %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// privateKeyDER finds the private key block in raw and returns it as PEM
// that tls.X509KeyPair accepts, decrypted when it was encrypted.
func privateKeyDER(raw []byte, password string) ([]byte, error) {
	for {
		var block *pem.Block
		block, raw = pem.Decode(raw)
		if block == nil {
			return nil, errors.New("no PEM private key in it")
		}
		switch {
		case block.Type == "ENCRYPTED PRIVATE KEY":
			if password == "" {
				return nil, errors.New("the key is encrypted: set keyfile_password")
			}
			der, err := decryptPKCS8(block.Bytes, password)
			if err != nil {
				return nil, err
			}
			return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
		case x509.IsEncryptedPEMBlock(block): //nolint:staticcheck // legacy format still written by some tools
			if password == "" {
				return nil, errors.New("the key is encrypted: set keyfile_password")
			}
			der, err := x509.DecryptPEMBlock(block, []byte(password)) //nolint:staticcheck
			if err != nil {
				return nil, errors.New("cannot decrypt: wrong keyfile_password or unsupported cipher")
			}
			return pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der}), nil
		case block.Type == "PRIVATE KEY" || block.Type == "RSA PRIVATE KEY" || block.Type == "EC PRIVATE KEY":
			return pem.EncodeToMemory(block), nil
		}
	}
}

// Server builds the REST API's TLS configuration. verifyClient is none,
// optional or required; with optional a client without a certificate is
// let in (the guard then treats it as unauthenticated) but a certificate
// that does not verify against CAFile is refused in the handshake.
func Server(f Files, verifyClient string) (*tls.Config, error) {
	cert, err := KeyPair(f)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		pool, err := CAPool(f.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
	}
	switch verifyClient {
	case "", "none":
		cfg.ClientAuth = tls.NoClientCert
	case "optional":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("verify_client must be none, optional or required, got %q", verifyClient)
	}
	if cfg.ClientAuth != tls.NoClientCert && cfg.ClientCAs == nil {
		return nil, fmt.Errorf("verify_client %s needs a CA file", verifyClient)
	}
	return cfg, nil
}

// Client builds a client TLS configuration: CAFile verifies the server
// (system roots when empty), CertFile is presented as a client certificate
// when set, insecure skips verifying the server.
func Client(f Files, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // ctl.insecure, the operator's choice
	if f.CAFile != "" {
		pool, err := CAPool(f.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.CertFile != "" {
		cert, err := KeyPair(f)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
