package raftstore

import "fmt"

// RaftServerIDs lists the ID of every server in the latest Raft
// configuration this node knows (voters and non-voters; the latest may not
// be committed yet). IDs are raft.self_addr, which agents also publish as
// their member record's RaftAddr: the ha loop's protocol gates count every
// Raft peer, including one whose agent never published a record
// (ha.ServerLister). It does not block: hashicorp/raft keeps the latest
// configuration at hand.
func (s *Store) RaftServerIDs() ([]string, error) {
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	servers := cf.Configuration().Servers
	ids := make([]string, 0, len(servers))
	for _, srv := range servers {
		ids = append(ids, string(srv.ID))
	}
	return ids, nil
}
