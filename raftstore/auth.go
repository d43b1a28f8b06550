package raftstore

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Securing the Raft port (DESIGN.md, "Raft port security").
//
// With Config.TLS or Config.Secret set, every connection to the Raft port,
// hashicorp/raft's AppendEntries, RequestVote and snapshot streams as well
// as Conclave RPC, passes through secureServer before its first byte is
// classified, and every outgoing one through secureClient right after the
// dial. Nothing of Raft or RPC is read from a connection that has not
// proved itself.
//
//  1. TLS (Config.TLS): mutual TLS 1.2+. Both sides present a certificate
//     signed by the configured CA and verify the other's chain against it
//     (peers are named by address, so host names are not checked: the CA is
//     the trust anchor, as with Consul's default).
//  2. The handshake below, always when security is on. With a secret it is
//     an HMAC-SHA256 challenge/response in both directions, keyed with a
//     hash of the secret: the secret itself never crosses the wire, and each
//     side proves it over the other side's fresh nonce, so a recorded
//     exchange cannot be replayed. Without a secret (TLS only) it just
//     confirms that the server accepted the client's certificate, so the
//     client reports a refusal clearly instead of a broken pipe later.
//
//     client → server: authMagic, authVersion, client nonce (32 bytes)
//     server → client: server nonce (32), server proof (32)
//     client → server: client proof (32)
//     server → client: authOK, or authRefused and the connection closes
//
// The password alone authenticates but does not encrypt: someone on the
// path could read the traffic or take over a connection after the
// handshake. TLS gives confidentiality and integrity; README says how to
// turn it on.

const (
	authMagic   byte = 0xC8 // first byte of the handshake; Raft uses 0..4, RPC 0xC7
	authVersion byte = 1
	authOK      byte = 0
	authRefused byte = 1
	nonceSize        = 32
	authTimeout      = 5 * time.Second
)

// ErrAuth marks a connection refused by the Raft port's authentication, on
// either side. It wraps ErrRejected, so formation reports the peer as
// refusing rather than unreachable.
var ErrAuth = fmt.Errorf("%w: raft port authentication failed", ErrRejected)

// security is the Raft port's authentication; the zero value is off.
type security struct {
	key       []byte      // HMAC key derived from the secret; nil: no secret
	serverTLS *tls.Config // nil: no TLS
	clientTLS *tls.Config
}

func (s security) enabled() bool { return s.key != nil || s.serverTLS != nil }

// newSecurity derives the port's settings. base must carry this node's
// certificate and, in RootCAs, the CA pool that signs every member.
func newSecurity(secret string, base *tls.Config) (security, error) {
	var sec security
	if secret != "" {
		k := sha256.Sum256([]byte("conclave raft port v1\x00" + secret))
		sec.key = k[:]
	}
	if base == nil {
		return sec, nil
	}
	if len(base.Certificates) == 0 || base.RootCAs == nil {
		return sec, errors.New("raft TLS needs a certificate (raft.certfile, raft.keyfile) and a CA (raft.cafile)")
	}
	pool := base.RootCAs
	sec.serverTLS = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: base.Certificates,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
	sec.clientTLS = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: base.Certificates,
		// Peers are addressed by IP:port and certificates need not name
		// them: verify the chain against the CA (below), not the host name.
		InsecureSkipVerify: true, //nolint:gosec // the chain is verified in VerifyPeerCertificate
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, pool, x509.ExtKeyUsageServerAuth)
		},
	}
	return sec, nil
}

// verifyChain checks that raw (leaf first) chains to pool for usage.
func verifyChain(raw [][]byte, pool *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(raw) == 0 {
		return errors.New("peer presented no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return fmt.Errorf("peer certificate: %w", err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return fmt.Errorf("peer certificate %q is not signed by raft.cafile: %w", certs[0].Subject.CommonName, err)
	}
	return nil
}

// secureClient authenticates an outgoing connection; on failure conn is
// closed and the error wraps ErrAuth when the peer refused us or failed
// to prove itself.
func (sec security) secureClient(conn net.Conn, addr string, deadline time.Time) (net.Conn, error) {
	if !sec.enabled() {
		return conn, nil
	}
	if d := time.Now().Add(authTimeout); deadline.IsZero() || d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	c, err := sec.clientHandshake(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("raft port %s: %w", addr, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func (sec security) clientHandshake(conn net.Conn) (net.Conn, error) {
	if sec.clientTLS != nil {
		tc := tls.Client(conn, sec.clientTLS)
		if err := tc.Handshake(); err != nil {
			return nil, tlsFailure(err)
		}
		conn = tc
	}
	hello := make([]byte, 2+nonceSize)
	hello[0], hello[1] = authMagic, authVersion
	if _, err := rand.Read(hello[2:]); err != nil {
		return nil, err
	}
	if _, err := conn.Write(hello); err != nil {
		return nil, tlsFailure(err)
	}
	reply := make([]byte, 2*nonceSize)
	if _, err := io.ReadFull(conn, reply); err != nil {
		return nil, tlsFailure(err)
	}
	cn, sn, sproof := hello[2:], reply[:nonceSize], reply[nonceSize:]
	if _, err := conn.Write(sec.proof("client", cn, sn)); err != nil {
		return nil, err
	}
	status := []byte{0}
	if _, err := io.ReadFull(conn, status); err != nil || status[0] != authOK {
		if sec.key != nil {
			return nil, fmt.Errorf("%w: the peer refused this node: raft.password differs", ErrAuth)
		}
		return nil, fmt.Errorf("%w: the peer refused this node", ErrAuth)
	}
	if !hmac.Equal(sproof, sec.proof("server", cn, sn)) {
		return nil, fmt.Errorf("%w: the peer could not prove it knows raft.password", ErrAuth)
	}
	return conn, nil
}

// tlsFailure names a TLS refusal as such; other errors stay as they are.
func tlsFailure(err error) error {
	var oe *net.OpError
	var ve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &oe) && oe.Op == "remote error":
		return fmt.Errorf("%w: the peer refused this node's certificate (%v): check raft.certfile and raft.cafile", ErrAuth, err)
	case errors.As(err, &ve):
		return fmt.Errorf("%w: %v", ErrAuth, err)
	case errors.As(err, new(tls.RecordHeaderError)):
		return fmt.Errorf("%w: the peer does not speak TLS on its raft port: set raft.certfile, keyfile and cafile on every node", ErrAuth)
	}
	if err != nil && errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: the peer closed the connection during authentication (is raft.password or TLS set on it too?)", ErrAuth)
	}
	if err != nil && isVerifyErr(err) {
		return fmt.Errorf("%w: %v", ErrAuth, err)
	}
	return err
}

func isVerifyErr(err error) bool {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	return errors.As(err, &ua) || errors.As(err, &ci)
}

// secureServer authenticates an accepted connection before anything is
// read from it. The returned reason is for the log ("" on success).
func (sec security) secureServer(conn net.Conn) (net.Conn, string) {
	if !sec.enabled() {
		return conn, ""
	}
	_ = conn.SetDeadline(time.Now().Add(authTimeout))
	if sec.serverTLS != nil {
		tc := tls.Server(conn, sec.serverTLS)
		if err := tc.Handshake(); err != nil {
			return nil, "TLS handshake failed (no or untrusted client certificate?): " + err.Error()
		}
		conn = tc
	}
	hello := make([]byte, 2+nonceSize)
	if _, err := io.ReadFull(conn, hello); err != nil {
		return nil, "no authentication handshake: " + err.Error()
	}
	if hello[0] != authMagic || hello[1] != authVersion {
		return nil, "connection did not authenticate (a node without raft.password or TLS, or an older version)"
	}
	cn := hello[2:]
	sn := make([]byte, nonceSize)
	if _, err := rand.Read(sn); err != nil {
		return nil, err.Error()
	}
	if _, err := conn.Write(append(append([]byte{}, sn...), sec.proof("server", cn, sn)...)); err != nil {
		return nil, err.Error()
	}
	cproof := make([]byte, nonceSize)
	if _, err := io.ReadFull(conn, cproof); err != nil {
		return nil, "authentication cut short: " + err.Error()
	}
	if !hmac.Equal(cproof, sec.proof("client", cn, sn)) {
		_, _ = conn.Write([]byte{authRefused})
		return nil, "wrong raft.password"
	}
	if _, err := conn.Write([]byte{authOK}); err != nil {
		return nil, err.Error()
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, ""
}

// proof is HMAC(key, role | client nonce | server nonce); with no secret
// it is all zeros (TLS alone authenticates then).
func (sec security) proof(role string, cn, sn []byte) []byte {
	if sec.key == nil {
		return make([]byte, nonceSize)
	}
	m := hmac.New(sha256.New, sec.key)
	m.Write([]byte(role))
	m.Write(cn)
	m.Write(sn)
	return m.Sum(nil)
}
