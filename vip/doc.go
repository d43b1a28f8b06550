// Package vip owns the floating IP (the vip: section): one address that
// always leads to the primary, so applications need neither DNS changes nor
// vip-manager. The node whose PostgreSQL is the primary under a lease it
// trusts adds the address to its interface and announces it with gratuitous
// ARP; every other node, and this one as soon as that stops being true,
// removes it.
//
// Manager is the state machine: it follows one input, Until (the moment
// this node must no longer present itself as the primary: the lease's trust
// deadline, zero when it holds no trusted lease or PostgreSQL is not a
// running primary), and removes the address Margin before it. Link is the
// kernel side (netlink for the address, an AF_PACKET socket for the ARP
// announcement); tests use a fake.
//
// It must never decide who is primary (package ha does) and never add the
// address on a signal other than a future Until. The argument that the old
// holder drops the address before anyone else may take the lease is in
// DESIGN.md ("The floating IP").
package vip
