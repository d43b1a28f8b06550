package raftstore

import (
	"context"
	"crypto/tls"
	"time"
)

// Internals for the external tests (package raftstore_test), which use
// raftstore/rafttest and so cannot live inside the package.

const (
	MaxRPCBody  = maxRPCBody
	RPCMagic    = rpcMagic
	PeekTimeout = peekTimeout
)

// Addr is the node's address (its Raft server ID).
func (s *Store) Addr() string { return s.cfg.Addr }

// HadState tells whether Raft state existed at Open.
func HadState(s *Store) bool { return s.hadState }

// Bootstrapped tells whether this process bootstrapped the cluster.
func Bootstrapped(s *Store) bool { return s.bootstrapped.Load() }

// TakeSnapshot makes s write a Raft snapshot now.
func TakeSnapshot(s *Store) error { return s.raft.Snapshot().Error() }

// WaitFSM waits until s applied index.
func WaitFSM(s *Store, ctx context.Context, index uint64) error { return s.waitFSM(ctx, index) }

// Hello sends a hello RPC to addr with secret (and TLS, may be nil) and
// returns the answer's error (decoded) and whether it carried hello
// information, with its scope and has-state flag.
func Hello(ctx context.Context, addr, secret string, tlsCfg *tls.Config) (info bool, scope string, hasState bool, err error) {
	probe := &Store{cfg: Config{Secret: secret, Addr: "probe"}, limit: newThrottle(time.Second)}
	probe.logger = probe.cfg.withDefaults().Logger
	if probe.sec, err = newSecurity(secret, tlsCfg); err != nil {
		return false, "", false, err
	}
	resp, err := probe.call(ctx, addr, rpcRequest{Op: opHello})
	if err != nil {
		return false, "", false, err
	}
	if resp.Hello != nil {
		info, scope, hasState = true, resp.Hello.Scope, resp.Hello.HasState
	}
	return info, scope, hasState, decodeErr(resp)
}
