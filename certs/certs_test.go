package certs

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/certs/certtest"
)

func TestKeyPair_PlainAndCombinedFiles(t *testing.T) {
	s := certtest.Write(t, t.TempDir())
	if _, err := KeyPair(Files{CertFile: s.ServerCert, KeyFile: s.ServerKey}); err != nil {
		t.Fatal(err)
	}
	if _, err := KeyPair(Files{CertFile: s.ServerPEM}); err != nil {
		t.Fatal(err)
	}
}

// OpenSSL 3 writes PKCS#8 PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC); the
// legacy format is "Proc-Type: 4,ENCRYPTED".
func TestKeyPair_EncryptedKey_DecryptedWithPasswordOnly(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is needed to write encrypted keys: apt-get install openssl")
	}
	dir := t.TempDir()
	s := certtest.Write(t, dir)
	for _, tc := range []struct{ name, args string }{
		{"pkcs8 aes256 sha256", "pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256"},
		{"pkcs8 aes128 sha1", "pkcs8 -topk8 -v2 aes-128-cbc -v2prf hmacWithSHA1"},
		{"legacy pem", "ec -aes256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".key")
			args := append(strings.Fields(tc.args), "-in", s.ServerKey, "-out", enc, "-passout", "pass:s3cret-pw")
			if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl %s: %v\n%s", tc.args, err, out)
			}
			if _, err := KeyPair(Files{CertFile: s.ServerCert, KeyFile: enc, KeyPassword: "s3cret-pw"}); err != nil {
				t.Fatalf("right password: %v", err)
			}
			_, err := KeyPair(Files{CertFile: s.ServerCert, KeyFile: enc, KeyPassword: "wrong-pw"})
			if err == nil {
				t.Fatal("wrong password accepted")
			}
			if strings.Contains(err.Error(), "wrong-pw") {
				t.Fatalf("error shows the password: %v", err)
			}
			if _, err := KeyPair(Files{CertFile: s.ServerCert, KeyFile: enc}); err == nil || !strings.Contains(err.Error(), "keyfile_password") {
				t.Fatalf("no password: %v", err)
			}
		})
	}
}

func TestServer_VerifyClientModes(t *testing.T) {
	s := certtest.Write(t, t.TempDir())
	for _, mode := range []string{"none", "optional", "required"} {
		if _, err := Server(Files{CertFile: s.ServerPEM, CAFile: s.CA}, mode); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
	}
	if _, err := Server(Files{CertFile: s.ServerPEM}, "required"); err == nil {
		t.Fatal("required without a CA accepted")
	}
	if _, err := CAPool(s.ServerKey); err == nil {
		t.Fatal("a key file accepted as CA bundle")
	}
}
