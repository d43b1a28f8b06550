package agent

import (
	"context"

	"github.com/conclave-ha/conclave/raftstore"
)

// raftServerAddrs lists every Raft server's address, voters and
// non-voters, for the takeover of a running primary and the rebuild,
// which wait until every one of them has reported.
func (a *Agent) raftServerAddrs(ctx context.Context) ([]string, error) {
	servers, err := a.store.Servers(ctx)
	if err != nil {
		return nil, err
	}
	return serverAddrs(servers), nil
}

func serverAddrs(servers []raftstore.Server) []string {
	out := make([]string, 0, len(servers))
	for _, s := range servers {
		out = append(out, s.Addr)
	}
	return out
}
