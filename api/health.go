package api

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// A check decides one health endpoint's status code from a view and the query.
type check func(v view, q url.Values) bool

// check answers 200 or 503 with the /patroni body, as Patroni does, from
// the view of the current state (cache.go).
func (s *Server) check(c check) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		cv := s.current(r.Context())
		var q url.Values
		if r.URL.RawQuery != "" {
			q = r.URL.Query()
		}
		code := http.StatusServiceUnavailable
		if c(cv.v, q) {
			code = http.StatusOK
		}
		writeBody(w, code, cv.body)
		return nil
	}
}

// checkPrimary: running primary holding the leader key with a trusted lease.
func checkPrimary(v view, _ url.Values) bool {
	return v.node.HoldsLeaderKey && v.isPrimaryRole() && v.running()
}

// checkReplica: running replica open for load balancing, within ?lag=, in
// ?replication_state= and matching the tag filters.
func checkReplica(v view, q url.Values) bool {
	return replicaUsable(v, q) && tagsMatch(v, q)
}

// checkReadOnly: the primary or a usable replica (tag filters apply to both,
// as Patroni applies them to the final answer).
func checkReadOnly(v view, q url.Values) bool {
	return (checkPrimary(v, q) || replicaUsable(v, q)) && tagsMatch(v, q)
}

// checkStandbyLeader is Patroni's /standby-leader: 200 only on the leader of
// a standby cluster (a cluster replicating from another one, its leader a
// replica holding the leader key). Conclave does not run standby clusters
// (standby_cluster in the dynamic configuration is stored, not acted on), so
// no node is ever a standby leader and this answers 503 with the /patroni
// body, as Patroni does on every node of a cluster that is not a standby
// cluster. A leader key holder still in recovery is one about to promote,
// not a standby leader.
func checkStandbyLeader(view, url.Values) bool { return false }

func checkSynchronous(v view, q url.Values) bool {
	return v.isSync(v.node.Name) && checkReplica(v, q)
}

func checkAsynchronous(v view, q url.Values) bool {
	return !v.isSync(v.node.Name) && checkReplica(v, q)
}

// checkHealth: PostgreSQL runs (Patroni's /health). A witness runs none,
// so it answers 503 although its state is "running": a load balancer that
// checks /health on every member's host must never send clients to it.
func checkHealth(v view, _ url.Values) bool { return v.running() && v.node.Role != fsm.RoleWitness }

func replicaUsable(v view, q url.Values) bool {
	if !v.running() || !v.isReplicaRole() || tagBool(v.node.Tags, "noloadbalance") {
		return false
	}
	if want := q.Get("replication_state"); want != "" && want != v.replicationState() {
		return false
	}
	if max, ok := parseLag(q.Get("lag")); ok && v.lag() > max {
		return false
	}
	return true
}

// Query keys that are parameters, not tag filters.
var reservedQueryKeys = map[string]bool{"lag": true, "replication_state": true, "mode": true}

// tagsMatch applies Patroni's tag filters: every other query key names a
// tag, compared as lower-cased strings with the first value given. A missing
// tag compares as "false" (Patroni's boolean tags default to false).
func tagsMatch(v view, q url.Values) bool {
	for key, vals := range q {
		if reservedQueryKeys[key] || len(vals) == 0 {
			continue
		}
		have := "false"
		if t, ok := v.node.Tags[key]; ok && t != nil {
			have = tagString(t)
		}
		if strings.ToLower(have) != strings.ToLower(vals[0]) {
			return false
		}
	}
	return true
}

func tagString(t any) string {
	switch x := t.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	}
	if n, ok := fsm.DynamicInt(t); ok {
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprint(t)
}

// tagBool reads a boolean tag the way Patroni's parse_bool does.
func tagBool(tags map[string]any, name string) bool {
	switch x := tags[name].(type) {
	case bool:
		return x
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "on", "yes", "1", "t", "y":
			return true
		}
	case nil:
		return false
	default:
		if n, ok := fsm.DynamicInt(x); ok {
			return n != 0
		}
	}
	return false
}

// byteUnits are PostgreSQL's memory units, as Patroni accepts them in ?lag=.
var byteUnits = map[string]float64{
	"":   1,
	"b":  1,
	"kb": 1 << 10,
	"mb": 1 << 20,
	"gb": 1 << 30,
	"tb": 1 << 40,
}

// parseLag reads ?lag=: bytes, or a number with a unit (16kB, 64MB, 1GB;
// units matched case-insensitively). ok is false for an empty or unparsable
// value, which Patroni ignores (no lag limit), and so do we.
func parseLag(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || (i == 0 && (s[i] == '+' || s[i] == '-'))) {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	f, err := strconv.ParseFloat(num, 64)
	mult, known := byteUnits[unit]
	if err != nil || !known {
		return 0, false
	}
	f *= mult
	switch {
	case f <= 0:
		return 0, true
	case f >= math.MaxUint64:
		return math.MaxUint64, true
	}
	return uint64(math.Round(f)), true
}

// liveness: the HA loop (a witness: its publishing loop) ran within
// max(3*loop interval, 10s), or, while a long step runs (a clone's copy),
// reported within it. Status code only, as Patroni.
func (s *Server) liveness(w http.ResponseWriter, r *http.Request) error {
	n := s.current(r.Context()).v.node
	limit := max(3*n.LoopInterval, 10*time.Second)
	last := n.LoopLastRun
	if n.LoopAliveAt.After(last) {
		last = n.LoopAliveAt
	}
	code := http.StatusServiceUnavailable
	if !last.IsZero() && s.now().Sub(last) <= limit {
		code = http.StatusOK
	}
	w.WriteHeader(code)
	return nil
}

// readiness: the running primary holding the key, or a running replica that
// streams or is within ?lag= (default maximum_lag_on_failover) of the
// leader. Status code only, as Patroni.
func (s *Server) readiness(w http.ResponseWriter, r *http.Request) error {
	v := s.current(r.Context()).v
	ok := checkPrimary(v, nil)
	if !ok && v.running() && v.isReplicaRole() {
		maxLag := uint64(max(v.dyn.MaximumLagOnFailover, 0))
		if l, valid := parseLag(r.URL.Query().Get("lag")); valid {
			maxLag = l
		}
		ok = v.node.WALReceiverStreaming || v.lag() <= maxLag
	}
	code := http.StatusServiceUnavailable
	if ok {
		code = http.StatusOK
	}
	w.WriteHeader(code)
	return nil
}
