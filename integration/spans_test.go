//go:build integration

package integration

import (
	"testing"
	"time"
)

// The split-brain checker's span logic on synthetic probe samples: no
// processes, so it runs in a few milliseconds under the integration tag.

// at builds windows of 5 ms starting at the given milliseconds.
func at(base time.Time, ms ...int) []window {
	var out []window
	for _, m := range ms {
		s := base.Add(time.Duration(m) * time.Millisecond)
		out = append(out, window{start: s, end: s.Add(5 * time.Millisecond)})
	}
	return out
}

func TestSpans_MergeGapsOfAtMostTwoPeriodsOnly(t *testing.T) {
	base := time.Now()
	const period = 100 * time.Millisecond
	// 0..300 every period, one sample missed at 400 (gap 195 ms: joined),
	// then nothing until 900 (gap 395 ms: a new span).
	got := spansOf(at(base, 0, 100, 200, 300, 500, 900, 1000), 2*period)
	if len(got) != 2 {
		t.Fatalf("spans %+v; want 2", got)
	}
	if got[0].writes != 5 || got[0].start != base || got[0].end != base.Add(505*time.Millisecond) {
		t.Errorf("first span %+v; want 5 writes from 0 to 505 ms", got[0])
	}
	if got[1].writes != 2 || got[1].start != base.Add(900*time.Millisecond) {
		t.Errorf("second span %+v; want 2 writes from 900 ms", got[1])
	}
	if spansOf(nil, 2*period) != nil {
		t.Error("no windows must give no spans")
	}
}

func TestSpans_OverlapOfTwoNodesIsReportedInMilliseconds(t *testing.T) {
	base := time.Now()
	gap := 200 * time.Millisecond
	// node1 writable 0..1005 ms, node2 from 700 ms on, its attempts never at
	// the same instant as node1's (offset 50 ms): the old checker, which
	// compared single attempts, saw nothing here.
	spans := map[string][]span{
		"node1": spansOf(at(base, 0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000), gap),
		"node2": spansOf(at(base, 750, 850, 950, 1050, 1150), gap),
	}
	ovs := overlapsOf(spans)
	if len(ovs) != 1 {
		t.Fatalf("overlaps %+v; want 1", ovs)
	}
	if d := ovs[0].duration(); d != 255*time.Millisecond {
		t.Errorf("overlap %v; want 255 ms (750 to 1005)", d)
	}
	if ovs[0].a != "node1" || ovs[0].b != "node2" {
		t.Errorf("overlap names %s and %s", ovs[0].a, ovs[0].b)
	}
}

func TestSpans_InterleavedSuccessesOverlap(t *testing.T) {
	base := time.Now()
	gap := 200 * time.Millisecond
	// Two nodes answering in turn, never at once: both writable.
	spans := map[string][]span{
		"node1": spansOf(at(base, 0, 200, 400, 600), gap),
		"node2": spansOf(at(base, 100, 300, 500, 700), gap),
	}
	if ovs := overlapsOf(spans); len(ovs) != 1 || ovs[0].duration() != 505*time.Millisecond {
		t.Fatalf("overlaps %+v; want one of 505 ms (100 to 605)", ovs)
	}
	// A single write of node2 inside a short gap of node1's span.
	spans = map[string][]span{
		"node1": spansOf(at(base, 0, 100, 250, 350), gap),
		"node2": spansOf(at(base, 180), gap),
	}
	if ovs := overlapsOf(spans); len(ovs) != 1 {
		t.Fatalf("overlaps %+v; want node2's write inside node1's gap to count", ovs)
	}
}

func TestSpans_TouchingAndSeparatedSpansDoNotOverlap(t *testing.T) {
	base := time.Now()
	gap := 200 * time.Millisecond
	// node2's first write starts exactly when node1's last ended.
	touching := map[string][]span{
		"node1": spansOf(at(base, 0, 100, 200), gap),
		"node2": spansOf(at(base, 205, 305), gap),
	}
	if ovs := overlapsOf(touching); len(ovs) != 0 {
		t.Errorf("touching spans overlap: %+v", ovs)
	}
	// A handover with a gap, and the old node writable again long after
	// (a switchover back): no overlap.
	separated := map[string][]span{
		"node1": spansOf(at(base, 0, 100, 200, 3000, 3100), gap),
		"node2": spansOf(at(base, 1500, 1600, 1700), gap),
		"node3": nil,
	}
	if ovs := overlapsOf(separated); len(ovs) != 0 {
		t.Errorf("separated spans overlap: %+v", ovs)
	}
}

func TestProbe_LabelsSelectOneProbeAndNodesMergeAll(t *testing.T) {
	base := time.Now()
	p := &probe{every: 100 * time.Millisecond, t0: base}
	for _, w := range at(base, 0, 100) {
		p.ok = append(p.ok, sample{node: "node1", label: "node1", window: w})
	}
	for _, w := range at(base, 500) {
		p.ok = append(p.ok, sample{node: "node1", label: "node1@inside", window: w})
	}
	if last, ok := p.lastSuccess("node1@inside"); !ok || last != base.Add(505*time.Millisecond) {
		t.Errorf("lastSuccess(node1@inside) = %v, %v", last.Sub(base), ok)
	}
	if _, ok := p.firstSuccessAfter("node1@inside", base.Add(600*time.Millisecond)); ok {
		t.Error("firstSuccessAfter found a write after the last one")
	}
	if first, ok := p.firstSuccessAfter("node1", base.Add(50*time.Millisecond)); !ok || first != base.Add(100*time.Millisecond) {
		t.Errorf("firstSuccessAfter(node1) = %v, %v; want 100 ms", first.Sub(base), ok)
	}
	if n := len(p.windows()["node1"]); n != 3 {
		t.Errorf("windows of node1 = %d; want both probes' 3", n)
	}
	if _, ok := p.lastSuccess("node2"); ok {
		t.Error("lastSuccess of a node without writes")
	}
}
