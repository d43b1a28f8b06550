package raftstore

// AppliedIndex is the index of the last entry the local state reflects: a
// read lock and no call into Raft's main loop, for callers that poll for
// changes, such as the REST API's cached health view.
func (s *Store) AppliedIndex() uint64 { return s.fsm.AppliedIndex() }
