package dynconfig

import "testing"

func TestCache_ParsesOncePerIndex(t *testing.T) {
	var c Cache
	raw := map[string]any{"ttl": 30, "loop_wait": 10}
	d, _, err := c.Get(5, raw)
	if err != nil || d.TTL != 30 {
		t.Fatalf("first get: %+v %v", d.TTL, err)
	}
	raw["ttl"] = 40 // same index: the stored document cannot have changed
	if d, _, _ := c.Get(5, raw); d.TTL != 30 {
		t.Fatalf("same index parsed again: ttl %d", d.TTL)
	}
	if d, _, _ := c.Get(6, raw); d.TTL != 40 {
		t.Fatalf("new index not parsed: ttl %d", d.TTL)
	}
	if _, _, err := c.Get(7, map[string]any{"ttl": "x"}); err == nil {
		t.Fatal("invalid document: no error")
	}
}
