package dynconfig

import "sync"

// Cache parses a stored document once per change: Get returns the value
// parsed for index (State.ConfigIndex, which moves with every stored
// change) and parses again only when the index differs. The returned
// DynamicConfig shares its maps with the cache: callers must not modify it.
// Safe for concurrent use.
type Cache struct {
	mu     sync.Mutex
	valid  bool
	index  uint64
	parsed DynamicConfig
	warns  []error
	err    error
}

// Get is ParseDynamicConfigWarn(raw), cached by index.
func (c *Cache) Get(index uint64, raw map[string]any) (DynamicConfig, []error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.index != index {
		c.parsed, c.warns, c.err = ParseDynamicConfigWarn(raw)
		c.index, c.valid = index, true
	}
	return c.parsed, c.warns, c.err
}
