package agent

import "context"

// voterAddrs lists the Raft voters' addresses for the takeover of a
// running primary, which waits until every voter's agent has reported.
func (a *Agent) voterAddrs(ctx context.Context) ([]string, error) {
	servers, err := a.store.Servers(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range servers {
		if s.Voter {
			out = append(out, s.Addr)
		}
	}
	return out, nil
}
