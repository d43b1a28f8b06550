//go:build integration

package integration

// Instruments of shared/FAULTS.md §2.2: the acknowledged-write ledger
// (writer + checker, promise P2), the writability probe (P1) and the
// convergence check every fault test ends with. All of them reach the
// nodes through node.dial, so in the namespace test bed they run in the
// client namespace.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// schemaSQL creates the tables the writer and the probe fill.
const schemaSQL = `CREATE TABLE acked (id bigint PRIMARY KEY, client int NOT NULL);
CREATE TABLE probe (node text NOT NULL, t timestamptz NOT NULL DEFAULT now())`

// --- writer: the acknowledged-write ledger ---

type outcome int

const (
	opOK   outcome = iota // committed, no sync-rep cancellation warning
	opFail                // definitely not committed
	opInfo                // indeterminate: timeout, connection loss, sync-rep warning
)

func (o outcome) String() string { return [...]string{"ok", "fail", "info"}[o] }

type writeOp struct {
	client     int
	id         int64
	start, end time.Time // monotonic readings (time.Now)
	result     outcome
	err        string
	server     string // host:port that served it
}

// writer runs clients inserting unique increasing ids into acked, each in
// its own autocommit transaction, through a multi-host DSN that only
// accepts a read-write server.
type writer struct {
	t       testing.TB
	dsn     string
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout time.Duration // per INSERT

	mu   sync.Mutex
	ops  []writeOp
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// multiHostDSN lists every node; libpq semantics: the first one that
// accepts a read-write session wins.
func (c *cluster) multiHostDSN(extra string) string {
	var hosts, ports []string
	for _, n := range c.nodes {
		hosts = append(hosts, n.host)
		ports = append(ports, fmt.Sprint(n.pgPort))
	}
	return fmt.Sprintf("host=%s port=%s user=postgres password=super-secret dbname=postgres sslmode=disable %s",
		strings.Join(hosts, ","), strings.Join(ports, ","), extra)
}

func startWriter(t testing.TB, c *cluster, clients int) *writer {
	t.Helper()
	if clients <= 0 {
		clients = 2
	}
	w := &writer{
		t: t, dsn: c.multiHostDSN("connect_timeout=1 target_session_attrs=read-write"),
		dial: c.nodes[0].dial, timeout: 3 * time.Second, stop: make(chan struct{}),
	}
	for i := 1; i <= clients; i++ {
		w.wg.Add(1)
		go w.client(i)
	}
	t.Cleanup(w.halt)
	return w
}

func (w *writer) connect(warned *atomic.Bool) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(w.dsn)
	if err != nil {
		return nil, err
	}
	if w.dial != nil {
		cfg.DialFunc = w.dial // shared by every fallback host
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		// "canceling wait for synchronous replication due to user request"
		// and "canceling the wait for synchronous replication and
		// terminating connection…": committed locally, maybe not replicated.
		if strings.Contains(n.Message, "wait for synchronous replication") {
			warned.Store(true)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

func (w *writer) client(client int) {
	defer w.wg.Done()
	var (
		conn   *pgx.Conn
		warned atomic.Bool
		seq    int64
	)
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		began := time.Now()
		if conn == nil {
			var err error
			if conn, err = w.connect(&warned); err != nil {
				conn = nil
				w.pace(began, 100*time.Millisecond)
				continue
			}
		}
		seq++
		id := int64(client)*1_000_000_000 + seq
		warned.Store(false)
		op := writeOp{client: client, id: id, start: time.Now(), server: conn.PgConn().Conn().RemoteAddr().String()}
		ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
		_, err := conn.Exec(ctx, "INSERT INTO acked (id, client) VALUES ($1, $2)", id, client)
		cancel()
		op.end = time.Now()
		op.result = classify(err, warned.Load())
		if err != nil {
			op.err = err.Error()
		} else if warned.Load() {
			op.err = "sync replication wait cancelled"
		}
		w.mu.Lock()
		w.ops = append(w.ops, op)
		w.mu.Unlock()
		var pgErr *pgconn.PgError
		if err != nil && !(errors.As(err, &pgErr) && pgErr.Severity == "ERROR") {
			conn.Close(context.Background())
			conn = nil
		}
		w.pace(began, 50*time.Millisecond) // at most ~20 ops/s per client
	}
}

// classify maps an INSERT's result to ok / fail / info.
func classify(err error, warned bool) outcome {
	if err == nil {
		if warned {
			return opInfo
		}
		return opOK
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Severity == "ERROR" {
		return opFail // the transaction aborted: definitely not committed
	}
	if pgconn.SafeToRetry(err) {
		return opFail // nothing was sent
	}
	return opInfo
}

func (w *writer) pace(began time.Time, every time.Duration) {
	select {
	case <-w.stop:
	case <-time.After(time.Until(began.Add(every))):
	}
}

// halt stops the clients and waits for them.
func (w *writer) halt() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
}

func (w *writer) snapshot() []writeOp {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]writeOp(nil), w.ops...)
}

// firstOKAfter returns the end of the first acknowledged write issued at
// or after t0: "writes resume".
func (w *writer) firstOKAfter(t0 time.Time) (time.Time, bool) {
	var first time.Time
	for _, op := range w.snapshot() {
		if op.result == opOK && !op.start.Before(t0) && (first.IsZero() || op.end.Before(first)) {
			first = op.end
		}
	}
	return first, !first.IsZero()
}

// firstOKOn is firstOKAfter restricted to writes served by node n: the RTO
// of a failover is measured on the new primary, not on the old one before
// it stopped.
func (w *writer) firstOKOn(n *node, t0 time.Time) (time.Time, bool) {
	addr := fmt.Sprintf("%s:%d", n.host, n.pgPort)
	var first time.Time
	for _, op := range w.snapshot() {
		if op.result == opOK && op.server == addr && !op.start.Before(t0) && (first.IsZero() || op.end.Before(first)) {
			first = op.end
		}
	}
	return first, !first.IsZero()
}

// waitWritesOn waits for an acknowledged write served by n issued after
// t0 and returns the time from t0 to its acknowledgement.
func (w *writer) waitWritesOn(t testing.TB, n *node, t0 time.Time, d time.Duration) time.Duration {
	t.Helper()
	var at time.Time
	waitFor(t, d, "an acknowledged write on "+n.name+" after the fault", func() error {
		var ok bool
		if at, ok = w.firstOKOn(n, t0); !ok {
			return errors.New("no acknowledged write yet")
		}
		return nil
	})
	return at.Sub(t0)
}

// waitWritesResume waits for an acknowledged write issued after t0 and
// returns the time from t0 to its acknowledgement.
func (w *writer) waitWritesResume(t testing.TB, t0 time.Time, d time.Duration) time.Duration {
	t.Helper()
	var at time.Time
	waitFor(t, d, "an acknowledged write after the fault", func() error {
		var ok bool
		if at, ok = w.firstOKAfter(t0); !ok {
			return errors.New("no acknowledged write yet")
		}
		return nil
	})
	return at.Sub(t0)
}

func (w *writer) counts() (ok, fail, info int) {
	for _, op := range w.snapshot() {
		switch op.result {
		case opOK:
			ok++
		case opFail:
			fail++
		default:
			info++
		}
	}
	return
}

// --- checker ---

type ledgerMode int

const (
	asyncMode ledgerMode = iota // lost writes are reported, not failed
	noLoss                      // lost must be empty (sync mode, or a design that guarantees it)
)

// checkLedger stops the writer, waits for every replica to replay the
// primary's current WAL position and compares the tables with the ledger.
func checkLedger(t testing.TB, c *cluster, primary *node, w *writer, mode ledgerMode) {
	t.Helper()
	w.halt()
	ops := w.snapshot()
	okIDs, known := map[int64]bool{}, map[int64]outcome{}
	for _, op := range ops {
		known[op.id] = op.result
		if op.result == opOK {
			okIDs[op.id] = true
		}
	}
	nOK, nFail, nInfo := w.counts()
	t.Logf("ledger: %d writes: %d ok, %d fail, %d info", len(ops), nOK, nFail, nInfo)
	if nOK == 0 {
		t.Errorf("ledger: no acknowledged write at all")
	}

	lsn, err := primary.queryString("SELECT pg_current_wal_lsn()::text")
	if err != nil {
		t.Fatalf("checker: %s current LSN: %v", primary.name, err)
	}
	final, err := primary.ids()
	if err != nil {
		t.Fatalf("checker: reading acked on %s: %v", primary.name, err)
	}
	var lost, phantom []int64
	for id := range okIDs {
		if !final[id] {
			lost = append(lost, id)
		}
	}
	for id := range final {
		if r, ok := known[id]; !ok || r == opFail {
			phantom = append(phantom, id)
		}
	}
	sortIDs(lost)
	sortIDs(phantom)
	switch {
	case len(lost) > 0 && mode == noLoss:
		t.Errorf("checker: %d acknowledged writes lost on the final primary %s: %v", len(lost), primary.name, head(lost))
	case len(lost) > 0:
		t.Logf("checker (async): %d acknowledged writes lost on the final primary %s: %v", len(lost), primary.name, head(lost))
	default:
		t.Logf("checker: no acknowledged write lost (%d rows on %s)", len(final), primary.name)
	}
	if len(phantom) > 0 {
		t.Errorf("checker: %d rows on %s were never acknowledged nor indeterminate (phantoms): %v", len(phantom), primary.name, head(phantom))
	}
	for _, n := range c.nodes {
		if n == primary {
			continue
		}
		waitFor(t, 30*time.Second, n.name+" replays up to "+lsn, func() error {
			v, err := n.queryString("SELECT (pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn)::text")
			if err != nil {
				return err
			}
			if v != "true" {
				return fmt.Errorf("replay LSN behind %s", lsn)
			}
			return nil
		})
		got, err := n.ids()
		if err != nil {
			t.Errorf("checker: reading acked on %s: %v", n.name, err)
			continue
		}
		var missing, extra []int64
		for id := range final {
			if !got[id] {
				missing = append(missing, id)
			}
		}
		for id := range got {
			if !final[id] {
				extra = append(extra, id)
			}
		}
		if len(missing)+len(extra) > 0 {
			sortIDs(missing)
			sortIDs(extra)
			t.Errorf("checker: replica %s differs from primary %s: %d missing %v, %d extra %v",
				n.name, primary.name, len(missing), head(missing), len(extra), head(extra))
		}
	}
}

func (n *node) ids() (map[int64]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := n.sql(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT id FROM acked")
	if err != nil {
		return nil, err
	}
	ids := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, rows.Err()
}

func sortIDs(s []int64) { sort.Slice(s, func(i, j int) bool { return s[i] < s[j] }) }

func head(s []int64) []int64 {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

// --- probe: writability of every node ---

// window is one successful probe write: from just before the INSERT was
// sent (after any connection set-up) to its acknowledgement.
type window struct{ start, end time.Time }

type probeTarget struct {
	name string // node name
	host string
	port int
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// label names this probe when a node is probed from several places
	// (e.g. "node1@inside" from inside a cut-off namespace); "" means
	// name. Waits can ask for one label; the split-brain check merges
	// every probe of a node.
	label string
}

func (tg probeTarget) key() string {
	if tg.label != "" {
		return tg.label
	}
	return tg.name
}

func targetOf(n *node) probeTarget {
	return probeTarget{name: n.name, host: n.host, port: n.pgPort, dial: n.dial}
}

// sample is one successful write of one probe.
type sample struct {
	node, label string
	window
}

// probe tries an INSERT on every target every 100 ms and records each
// success. It commits with synchronous_commit = local so that it sees
// whether a node accepts writes at all, whatever its synchronous standbys
// do.
type probe struct {
	t     testing.TB
	t0    time.Time
	mu    sync.Mutex
	ok    []sample
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
	every time.Duration
}

func startProbe(t testing.TB, targets ...probeTarget) *probe {
	p := &probe{t: t, t0: time.Now(), stop: make(chan struct{}), every: 100 * time.Millisecond}
	p.add(targets...)
	t.Cleanup(p.halt)
	return p
}

// add starts probing more targets (e.g. from inside an isolated node).
func (p *probe) add(targets ...probeTarget) {
	for _, tg := range targets {
		p.wg.Add(1)
		go p.run(tg)
	}
}

func (p *probe) run(tg probeTarget) {
	defer p.wg.Done()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if conn == nil {
			cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=postgres password=super-secret dbname=postgres sslmode=disable connect_timeout=1", tg.host, tg.port))
			if err != nil {
				cancel()
				p.t.Errorf("probe: %v", err)
				return
			}
			if tg.dial != nil {
				cfg.DialFunc = tg.dial
			}
			cfg.RuntimeParams["synchronous_commit"] = "local"
			if conn, err = pgx.ConnectConfig(ctx, cfg); err != nil {
				conn = nil
				cancel()
				continue
			}
		}
		// The window starts after the connection is up: a slow connect
		// says nothing about when the node became writable.
		start := time.Now()
		_, err := conn.Exec(ctx, "INSERT INTO probe (node) VALUES ('"+tg.name+"')")
		cancel()
		end := time.Now()
		if err == nil {
			p.mu.Lock()
			p.ok = append(p.ok, sample{node: tg.name, label: tg.key(), window: window{start, end}})
			p.mu.Unlock()
			continue
		}
		var pgErr *pgconn.PgError
		if !(errors.As(err, &pgErr) && pgErr.Severity == "ERROR") {
			conn.Close(context.Background())
			conn = nil
		}
	}
}

func (p *probe) halt() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}

// windows returns every node's successful writes (all its probes merged),
// sorted by start.
func (p *probe) windows() map[string][]window {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string][]window{}
	for _, s := range p.ok {
		out[s.node] = append(out[s.node], s.window)
	}
	for _, w := range out {
		sort.Slice(w, func(i, j int) bool { return w[i].start.Before(w[j].start) })
	}
	return out
}

// of returns the successful writes of key: a node name (every probe of
// that node) or a probe label (that probe only).
func (p *probe) of(key string) []window {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []window
	for _, s := range p.ok {
		if s.node == key || s.label == key {
			out = append(out, s.window)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// lastSuccess returns the end of the last successful write of key (a node
// name or a probe label), if any.
func (p *probe) lastSuccess(key string) (time.Time, bool) {
	var last time.Time
	for _, x := range p.of(key) {
		if x.end.After(last) {
			last = x.end
		}
	}
	return last, !last.IsZero()
}

// firstSuccessAfter returns the start of key's first successful write that
// started at or after t0.
func (p *probe) firstSuccessAfter(key string, t0 time.Time) (time.Time, bool) {
	for _, x := range p.of(key) {
		if !x.start.Before(t0) {
			return x.start, true
		}
	}
	return time.Time{}, false
}

// span is a stretch of time in which a node is taken to have been writable:
// successive successful writes whose gaps are at most maxGap, from the
// first one's start to the last one's end.
type span struct {
	start, end time.Time
	writes     int
}

// spansOf merges windows (sorted by start) into spans: a write starting at
// most maxGap after the current span's end extends it. A node that answered
// before and after a gap of a couple of probe periods is assumed to have
// been writable in between.
func spansOf(wins []window, maxGap time.Duration) []span {
	var out []span
	for _, w := range wins {
		if n := len(out); n > 0 && !w.start.After(out[n-1].end.Add(maxGap)) {
			if w.end.After(out[n-1].end) {
				out[n-1].end = w.end
			}
			out[n-1].writes++
			continue
		}
		out = append(out, span{start: w.start, end: w.end, writes: 1})
	}
	return out
}

// overlap is a time two nodes were both writable.
type overlap struct {
	a, b   string
	as, bs span
}

func (o overlap) duration() time.Duration {
	start, end := o.as.start, o.as.end
	if o.bs.start.After(start) {
		start = o.bs.start
	}
	if o.bs.end.Before(end) {
		end = o.bs.end
	}
	return end.Sub(start)
}

// overlapsOf returns every pair of spans of two different nodes that share
// time. Spans that only touch (one ends exactly when the other starts) do
// not overlap. Successes of two nodes that alternate (interleave) within a
// couple of probe periods fall into overlapping spans, so they are caught
// even when no two attempts ran at the same instant.
func overlapsOf(spans map[string][]span) []overlap {
	names := make([]string, 0, len(spans))
	for n := range spans {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []overlap
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			for _, x := range spans[names[i]] {
				for _, y := range spans[names[j]] {
					if x.start.Before(y.end) && y.start.Before(x.end) {
						out = append(out, overlap{a: names[i], b: names[j], as: x, bs: y})
					}
				}
			}
		}
	}
	return out
}

// spans returns every node's writable spans (gaps of at most two probe
// periods joined).
func (p *probe) spans() map[string][]span {
	out := map[string][]span{}
	for n, w := range p.windows() {
		out[n] = spansOf(w, 2*p.every)
	}
	return out
}

// writableSpans formats every node's writable spans for the log.
func (p *probe) writableSpans() string {
	var b strings.Builder
	spans := p.spans()
	names := make([]string, 0, len(spans))
	for n := range spans {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&b, "%s:", name)
		for _, s := range spans[name] {
			fmt.Fprintf(&b, " [%.3fs–%.3fs, %d writes]", s.start.Sub(p.t0).Seconds(), s.end.Sub(p.t0).Seconds(), s.writes)
		}
		b.WriteString("; ")
	}
	return b.String()
}

// assertNeverTwoWritable (P1): no two distinct nodes' writable spans ever
// share time. Every overlap is reported with its length in milliseconds.
func (p *probe) assertNeverTwoWritable(t testing.TB) {
	t.Helper()
	p.halt()
	t.Logf("probe: writable spans (seconds since probe start): %s", p.writableSpans())
	ovs := overlapsOf(p.spans())
	var total time.Duration
	for i, o := range ovs {
		total += o.duration()
		if i < 10 {
			t.Errorf("two writable nodes for %d ms: %s writable in [%.3fs, %.3fs] (%d writes) and %s in [%.3fs, %.3fs] (%d writes)",
				o.duration().Milliseconds(),
				o.a, o.as.start.Sub(p.t0).Seconds(), o.as.end.Sub(p.t0).Seconds(), o.as.writes,
				o.b, o.bs.start.Sub(p.t0).Seconds(), o.bs.end.Sub(p.t0).Seconds(), o.bs.writes)
		}
	}
	if len(ovs) > 0 {
		t.Errorf("P1 violated: %d overlapping writable spans on two nodes, %d ms in all", len(ovs), total.Milliseconds())
	}
}

// --- convergence ---

// waitConverged waits until one leader runs, every other node streams,
// every node's /cluster names the same leader, the leader's PostgreSQL is
// out of recovery and its pg_stat_replication shows every other node
// streaming.
func waitConverged(c *cluster, d time.Duration) *node {
	c.t.Helper()
	var leader *node
	waitFor(c.t, d, "cluster converged (one leader, all streaming, all views agree)", func() error {
		leader = nil
		seen := map[string]string{}
		for _, n := range c.nodes {
			cl, err := n.cluster()
			if err != nil {
				return fmt.Errorf("%s: %w", n.name, err)
			}
			if len(cl.Members) != len(c.nodes) {
				return fmt.Errorf("%s sees %d members", n.name, len(cl.Members))
			}
			leaders := 0
			for _, m := range cl.Members {
				switch {
				case m.Role == "leader" && m.State == "running":
					leaders++
					seen[n.name] = m.Name
				case m.Role != "leader" && m.State == "streaming":
				default:
					return fmt.Errorf("%s sees %s as %s/%s", n.name, m.Name, m.Role, m.State)
				}
			}
			if leaders != 1 {
				return fmt.Errorf("%s sees %d running leaders", n.name, leaders)
			}
		}
		for _, n := range c.nodes {
			if seen[n.name] != seen[c.nodes[0].name] {
				return fmt.Errorf("views disagree on the leader: %v", seen)
			}
		}
		leader = c.byName(seen[c.nodes[0].name])
		// /cluster names the key holder; PostgreSQL itself must be a
		// writable primary (a holder without quorum runs read-only).
		if rec, err := leader.queryString("SELECT pg_is_in_recovery()::text"); err != nil || rec != "false" {
			return fmt.Errorf("leader %s: pg_is_in_recovery() = %q, %v", leader.name, rec, err)
		}
		v, err := leader.queryString("SELECT count(*)::text FROM pg_stat_replication WHERE state = 'streaming'")
		if err != nil {
			return fmt.Errorf("%s pg_stat_replication: %w", leader.name, err)
		}
		if v != fmt.Sprint(len(c.nodes)-1) {
			return fmt.Errorf("%s: %s replicas streaming, want %d", leader.name, v, len(c.nodes)-1)
		}
		return nil
	})
	return leader
}

// holdsFor checks cond every 100 ms for d (not scaled: it is the length of
// the property, not a wait) and fails at the first error.
func holdsFor(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := cond(); err != nil {
			t.Fatalf("%s stopped holding: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
