package dynconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Conclave's defaults for the dynamic configuration. They differ from
// Patroni's (ttl 30, loop_wait 10, retry_timeout 10) on purpose: the lease
// lives in an embedded Raft log with sub-second commits and is measured with
// monotonic clocks (DESIGN.md, safety rule 1), so short leases are safe and
// a crashed primary is replaced in seconds.
const (
	DefaultTTLSeconds                       = 3       // lease length
	DefaultLoopWaitSeconds                  = 1       // pause between HA loop runs
	DefaultRetryTimeoutSeconds              = 1       // Raft/PostgreSQL retry budget
	DefaultMaximumLagOnFailover       int64 = 1048576 // bytes, same as Patroni
	DefaultPrimaryStartTimeoutSeconds       = 300     // same as Patroni
	DefaultSynchronousNodeCount             = 1       // same as Patroni
	DefaultUseSlots                         = true    // same as Patroni
	DefaultUsePgRewind                      = false   // same as Patroni
	DefaultCheckTimeline                    = false   // same as Patroni
	DefaultMaxTimelinesHistory              = 0       // 0 keeps the whole history
	// DefaultMemberSlotsTTL is how long the primary keeps the replication
	// slot of a member that stopped reporting (Patroni 4's default).
	DefaultMemberSlotsTTL = 30 * time.Minute
)

// DynamicConfig is the typed view of the replicated dynamic configuration
// (Patroni's bootstrap.dcs keys). The stored form stays the untyped map the
// user wrote (State.Config); ParseDynamicConfig derives this view from it.
type DynamicConfig struct {
	TTL, LoopWait, RetryTimeout int   // seconds
	MaximumLagOnFailover        int64 // bytes
	// PrimaryStartTimeout comes from primary_start_timeout or its older name
	// master_start_timeout (primary_start_timeout wins when both are set).
	PrimaryStartTimeout int // seconds
	// PrimaryStopTimeout comes from primary_stop_timeout / master_stop_timeout; 0 = none.
	PrimaryStopTimeout                     int // seconds
	SynchronousMode, SynchronousModeStrict bool
	SynchronousNodeCount                   int
	FailsafeMode                           bool
	Pause                                  bool
	CheckTimeline                          bool
	MaxTimelinesHistory                    int
	// MaximumLagOnSyncnode is Patroni's maximum_lag_on_syncnode; -1 (default) = disabled.
	MaximumLagOnSyncnode  int64
	UsePgRewind, UseSlots bool           // postgresql.use_pg_rewind, postgresql.use_slots
	Parameters            map[string]any // postgresql.parameters
	PgHBA                 []string       // postgresql.pg_hba
	RecoveryConf          map[string]any // postgresql.recovery_conf
	// postgresql.remove_data_directory_on_rewind_failure / _on_diverged_timelines.
	RemoveDataDirectoryOnRewindFailure, RemoveDataDirectoryOnDivergedTimelines bool
	Slots                                                                      map[string]Slot // permanent slots by name
	IgnoreSlots                                                                []map[string]any
	StandbyCluster                                                             map[string]any // accepted and stored, not implemented
	// MemberSlotsTTL is member_slots_ttl: how long the slot of a member that
	// stopped reporting is kept; 0 drops it as soon as the member counts as gone.
	MemberSlotsTTL time.Duration
}

// Slot is a permanent replication slot.
type Slot struct {
	Type     string // "physical" or "logical"
	Database string // logical only
	Plugin   string // logical only
}

// DynamicConfigError is one problem in a dynamic configuration document.
// ValidateDynamicConfig joins them (errors.Join) in a deterministic order;
// callers that know where the document came from (the config package adds
// file and line) unwrap them with errors.As or Unwrap() []error.
type DynamicConfigError struct {
	Key        string // dotted key path, e.g. "postgresql.use_slots"
	Unknown    bool   // the key is not a dynamic configuration key
	Suggestion string // for Unknown: the closest known key, or ""
	Problem    string // for known keys: what is wrong, e.g. `must be an integer >= 1, got "abc"`
}

func (e *DynamicConfigError) Error() string {
	if e.Unknown {
		if e.Suggestion != "" {
			return fmt.Sprintf("unknown dcs key %q (did you mean %q?)", e.Key, e.Suggestion)
		}
		return fmt.Sprintf("unknown dcs key %q", e.Key)
	}
	return fmt.Sprintf("dcs key %q: %s", e.Key, e.Problem)
}

// DefaultDynamicConfig returns Conclave's defaults.
func DefaultDynamicConfig() DynamicConfig {
	return DynamicConfig{
		TTL:                  DefaultTTLSeconds,
		LoopWait:             DefaultLoopWaitSeconds,
		RetryTimeout:         DefaultRetryTimeoutSeconds,
		MaximumLagOnFailover: DefaultMaximumLagOnFailover,
		PrimaryStartTimeout:  DefaultPrimaryStartTimeoutSeconds,
		SynchronousNodeCount: DefaultSynchronousNodeCount,
		CheckTimeline:        DefaultCheckTimeline,
		MaxTimelinesHistory:  DefaultMaxTimelinesHistory,
		MaximumLagOnSyncnode: -1,
		UsePgRewind:          DefaultUsePgRewind,
		UseSlots:             DefaultUseSlots,
		Parameters:           map[string]any{},
		Slots:                map[string]Slot{},
		MemberSlotsTTL:       DefaultMemberSlotsTTL,
	}
}

// ValidateDynamicConfig reports every problem in raw (nil and empty are
// valid) with the strictest rules: the API, the CLI and the configuration
// file check a document with it before anything proposes it. Apply never
// calls it (see AcceptDynamicConfig).
func ValidateDynamicConfig(raw map[string]any) error {
	_, err := parseDynamicConfig(raw, true)
	return err
}

// AcceptDynamicConfig is the check SetConfig's Apply makes (package fsm). It must never
// become stricter than what an older release accepted for the same command
// type: a log entry (or snapshot) that older nodes stored would otherwise be
// rejected here and accepted there, and the nodes' states would diverge.
// Keys whose rules were tightened later (member_slots_ttl) are checked
// strictly by ValidateDynamicConfig before proposing, not here.
func AcceptDynamicConfig(raw map[string]any) error {
	_, err := parseDynamicConfig(raw, false)
	return err
}

// ParseDynamicConfig checks raw and returns the typed view, with defaults for
// missing keys. raw comes from YAML or JSON: integers may be any Go integer
// type, an integral float64 or a json.Number; booleans must be booleans.
// It accepts every document Apply stores: a key whose value an older release
// accepted but this one cannot read (member_slots_ttl "30 minutes") takes
// its default instead of failing the whole document; ParseDynamicConfigWarn
// also returns those problems.
func ParseDynamicConfig(raw map[string]any) (DynamicConfig, error) {
	c, _, err := ParseDynamicConfigWarn(raw)
	return c, err
}

// ParseDynamicConfigWarn is ParseDynamicConfig that also returns, as
// warnings, the keys that took their default because their stored value
// could not be read.
func ParseDynamicConfigWarn(raw map[string]any) (DynamicConfig, []error, error) {
	p := dynParser{c: DefaultDynamicConfig()}
	c, err := p.parse(raw)
	return c, p.warns, err
}

func parseDynamicConfig(raw map[string]any, strict bool) (DynamicConfig, error) {
	p := dynParser{c: DefaultDynamicConfig(), strict: strict}
	return p.parse(raw)
}

func (p *dynParser) parse(raw map[string]any) (DynamicConfig, error) {
	for _, k := range dynSortedKeys(raw) {
		p.top(k, raw[k])
	}
	if _, ok := raw["primary_start_timeout"]; ok {
		p.c.PrimaryStartTimeout = p.primaryStart
	}
	if _, ok := raw["primary_stop_timeout"]; ok {
		p.c.PrimaryStopTimeout = p.primaryStop
	}
	c := p.c
	if len(p.errs) == 0 && c.LoopWait+2*c.RetryTimeout > c.TTL {
		p.fail("ttl", "loop_wait (%d) + 2*retry_timeout (%d) = %d exceeds ttl (%d); raise ttl or lower loop_wait/retry_timeout",
			c.LoopWait, c.RetryTimeout, c.LoopWait+2*c.RetryTimeout, c.TTL)
	}
	if len(p.errs) > 0 {
		return DynamicConfig{}, errors.Join(p.errs...)
	}
	return c, nil
}

var dynTopKeys = []string{
	"ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover", "maximum_lag_on_syncnode",
	"master_start_timeout", "primary_start_timeout", "master_stop_timeout", "primary_stop_timeout",
	"synchronous_mode", "synchronous_mode_strict", "synchronous_node_count", "failsafe_mode",
	"pause", "check_timeline", "max_timelines_history", "postgresql", "slots", "ignore_slots",
	"standby_cluster", "member_slots_ttl",
}

var dynPostgresqlKeys = []string{
	"use_pg_rewind", "use_slots", "parameters", "pg_hba", "recovery_conf",
	"remove_data_directory_on_rewind_failure", "remove_data_directory_on_diverged_timelines",
}

var dynSlotKeys = []string{"type", "database", "plugin"}

var dynIgnoreSlotKeys = []string{"name", "type", "database", "plugin"}

type dynParser struct {
	c                         DynamicConfig
	primaryStart, primaryStop int
	errs                      []error
	// strict rejects values older releases accepted (see
	// AcceptDynamicConfig); otherwise they take their default and are
	// listed in warns.
	strict bool
	warns  []error
}

func (p *dynParser) fail(key, format string, args ...any) {
	p.errs = append(p.errs, &DynamicConfigError{Key: key, Problem: fmt.Sprintf(format, args...)})
}

func (p *dynParser) unknown(key, name string, known []string) {
	p.errs = append(p.errs, &DynamicConfigError{Key: key, Unknown: true, Suggestion: ClosestKey(name, known)})
}

func (p *dynParser) top(k string, v any) {
	c := &p.c
	switch k {
	case "ttl":
		p.intMin(k, v, 2, &c.TTL)
	case "loop_wait":
		p.intMin(k, v, 1, &c.LoopWait)
	case "retry_timeout":
		p.intMin(k, v, 1, &c.RetryTimeout)
	case "maximum_lag_on_failover":
		if n, ok := p.int64Min(k, v, 0); ok {
			c.MaximumLagOnFailover = n
		}
	case "maximum_lag_on_syncnode":
		if n, ok := p.int64Min(k, v, -1); ok {
			c.MaximumLagOnSyncnode = n
		}
	case "master_start_timeout":
		p.intMin(k, v, 0, &c.PrimaryStartTimeout)
	case "primary_start_timeout":
		p.intMin(k, v, 0, &p.primaryStart)
	case "master_stop_timeout":
		p.intMin(k, v, 0, &c.PrimaryStopTimeout)
	case "primary_stop_timeout":
		p.intMin(k, v, 0, &p.primaryStop)
	case "synchronous_mode":
		if s, ok := v.(string); ok && s == "quorum" {
			p.fail(k, `"quorum" (Patroni 4 quorum commit) is not supported; use true or false`)
			return
		}
		p.boolean(k, v, &c.SynchronousMode)
	case "synchronous_mode_strict":
		p.boolean(k, v, &c.SynchronousModeStrict)
	case "synchronous_node_count":
		p.intMin(k, v, 1, &c.SynchronousNodeCount)
	case "failsafe_mode":
		p.boolean(k, v, &c.FailsafeMode)
	case "pause":
		p.boolean(k, v, &c.Pause)
	case "check_timeline":
		p.boolean(k, v, &c.CheckTimeline)
	case "max_timelines_history":
		p.intMin(k, v, 0, &c.MaxTimelinesHistory)
	case "postgresql":
		p.postgresql(v)
	case "slots":
		p.slots(v)
	case "ignore_slots":
		p.ignoreSlots(v)
	case "standby_cluster":
		if v == nil {
			return
		}
		m, ok := dynAsMap(v)
		if !ok {
			p.fail(k, "must be a map, got %s", dynDescribe(v))
			return
		}
		c.StandbyCluster = dynCopyMap(m)
	case "member_slots_ttl":
		// What releases before the unit parser accepted, kept exactly for
		// Apply: any string, or an integer >= 0.
		if _, ok := v.(string); !ok {
			var n int
			if !p.intMin(k, v, 0, &n) {
				return
			}
		}
		d, err := ParseSecondsWithUnit(v)
		if err != nil {
			if p.strict {
				p.fail(k, "%v", err)
			} else {
				p.warns = append(p.warns, &DynamicConfigError{Key: k,
					Problem: fmt.Sprintf("%v; using the default %v", err, DefaultMemberSlotsTTL)})
			}
			return
		}
		c.MemberSlotsTTL = d
	default:
		p.unknown(k, k, dynTopKeys)
	}
}

func (p *dynParser) postgresql(v any) {
	if v == nil {
		return
	}
	m, ok := dynAsMap(v)
	if !ok {
		p.fail("postgresql", "must be a map, got %s", dynDescribe(v))
		return
	}
	c := &p.c
	for _, k := range dynSortedKeys(m) {
		v, key := m[k], "postgresql."+k
		switch k {
		case "use_pg_rewind":
			p.boolean(key, v, &c.UsePgRewind)
		case "use_slots":
			p.boolean(key, v, &c.UseSlots)
		case "remove_data_directory_on_rewind_failure":
			p.boolean(key, v, &c.RemoveDataDirectoryOnRewindFailure)
		case "remove_data_directory_on_diverged_timelines":
			p.boolean(key, v, &c.RemoveDataDirectoryOnDivergedTimelines)
		case "parameters":
			p.parameters(key, v)
		case "pg_hba":
			if v == nil {
				continue
			}
			lines, ok := dynStrings(v)
			if !ok {
				p.fail(key, "must be a list of strings, got %s", dynDescribe(v))
				continue
			}
			c.PgHBA = lines
		case "recovery_conf":
			if v == nil {
				continue
			}
			rc, ok := dynAsMap(v)
			if !ok {
				p.fail(key, "must be a map, got %s", dynDescribe(v))
				continue
			}
			c.RecoveryConf = dynCopyMap(rc)
		default:
			p.unknown(key, k, dynPostgresqlKeys)
		}
	}
}

func (p *dynParser) parameters(key string, v any) {
	if v == nil {
		return
	}
	m, ok := dynAsMap(v)
	if !ok {
		p.fail(key, "must be a map, got %s", dynDescribe(v))
		return
	}
	for _, name := range dynSortedKeys(m) {
		val := m[name]
		if !IsScalarParameter(val) {
			p.fail(key+"."+name, "must be a string, number or boolean, got %s", dynDescribe(val))
			continue
		}
		p.c.Parameters[name] = val
	}
	if p.strict {
		p.checkParameters(key) // fsm/pgparams.go: what PostgreSQL would refuse at start
	}
}

func (p *dynParser) slots(v any) {
	if v == nil {
		return
	}
	m, ok := dynAsMap(v)
	if !ok {
		p.fail("slots", "must be a map of slot name to {type, database, plugin}, got %s", dynDescribe(v))
		return
	}
	for _, name := range dynSortedKeys(m) {
		key := "slots." + name
		if !dynValidSlotName(name) {
			p.fail(key, "slot name may contain only a-z, 0-9 and _")
			continue
		}
		s := Slot{}
		if m[name] != nil {
			sm, ok := dynAsMap(m[name])
			if !ok {
				p.fail(key, "must be a map with type, database, plugin, got %s", dynDescribe(m[name]))
				continue
			}
			bad := false
			for _, f := range dynSortedKeys(sm) {
				var dst *string
				switch f {
				case "type":
					dst = &s.Type
				case "database":
					dst = &s.Database
				case "plugin":
					dst = &s.Plugin
				default:
					p.unknown(key+"."+f, f, dynSlotKeys)
					bad = true
					continue
				}
				str, ok := sm[f].(string)
				if !ok {
					p.fail(key+"."+f, "must be a string, got %s", dynDescribe(sm[f]))
					bad = true
					continue
				}
				*dst = str
			}
			if bad {
				continue
			}
		}
		if s.Type == "" {
			s.Type = "physical"
			if s.Database != "" && s.Plugin != "" {
				s.Type = "logical"
			}
		}
		switch s.Type {
		case "physical":
		case "logical":
			if s.Database == "" || s.Plugin == "" {
				p.fail(key, "a logical slot needs both database and plugin")
				continue
			}
		default:
			p.fail(key+".type", "must be physical or logical, got %q", s.Type)
			continue
		}
		p.c.Slots[name] = s
	}
}

func (p *dynParser) ignoreSlots(v any) {
	if v == nil {
		return
	}
	list, ok := v.([]any)
	if !ok {
		if ms, ok2 := v.([]map[string]any); ok2 {
			list = make([]any, len(ms))
			for i := range ms {
				list[i] = ms[i]
			}
		} else {
			p.fail("ignore_slots", "must be a list of maps, got %s", dynDescribe(v))
			return
		}
	}
	out := make([]map[string]any, 0, len(list))
	for i, item := range list {
		key := fmt.Sprintf("ignore_slots[%d]", i)
		m, ok := dynAsMap(item)
		if !ok {
			p.fail(key, "must be a map with name, type, database, plugin, got %s", dynDescribe(item))
			continue
		}
		for _, f := range dynSortedKeys(m) {
			if !dynContains(dynIgnoreSlotKeys, f) {
				p.unknown(key+"."+f, f, dynIgnoreSlotKeys)
			} else if _, ok := m[f].(string); !ok {
				p.fail(key+"."+f, "must be a string, got %s", dynDescribe(m[f]))
			}
		}
		out = append(out, dynCopyMap(m))
	}
	p.c.IgnoreSlots = out
}

func (p *dynParser) boolean(key string, v any, dst *bool) {
	b, ok := v.(bool)
	if !ok {
		p.fail(key, "must be true or false, got %s", dynDescribe(v))
		return
	}
	*dst = b
}

// intMin stores an int32-range integer >= min into dst.
func (p *dynParser) intMin(key string, v any, min int64, dst *int) bool {
	n, ok := DynamicInt(v)
	if !ok {
		p.fail(key, "must be an integer >= %d, got %s", min, dynDescribe(v))
		return false
	}
	if n < min || n > math.MaxInt32 {
		p.fail(key, "must be an integer >= %d and <= %d, got %d", min, math.MaxInt32, n)
		return false
	}
	*dst = int(n)
	return true
}

// int64Min is intMin for byte counts, which may exceed int32.
func (p *dynParser) int64Min(key string, v any, min int64) (int64, bool) {
	n, ok := DynamicInt(v)
	if !ok {
		p.fail(key, "must be an integer >= %d, got %s", min, dynDescribe(v))
		return 0, false
	}
	if n < min {
		p.fail(key, "must be an integer >= %d, got %d", min, n)
		return 0, false
	}
	return n, true
}

// DynamicInt converts a YAML/JSON number to int64: any Go integer type, an
// integral float, or an integral json.Number. Strings, booleans, fractional
// numbers and values outside int64 are refused.
func DynamicInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint:
		return dynUint(uint64(n))
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		return dynUint(n)
	case float32:
		return dynFloat(float64(n))
	case float64:
		return dynFloat(n)
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		if f, err := n.Float64(); err == nil {
			return dynFloat(f)
		}
	}
	return 0, false
}

func dynUint(u uint64) (int64, bool) {
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

func dynFloat(f float64) (int64, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// IsScalarParameter reports whether v may be the value of a PostgreSQL
// parameter: a string, a number or a boolean.
func IsScalarParameter(v any) bool {
	switch v.(type) {
	case string, bool, json.Number, float32, float64,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	}
	return false
}

// MergeDynamicPatch applies patch to base with Patroni's PATCH /config
// semantics: nested maps merge recursively, a nil (JSON null) value deletes
// the key, anything else replaces it. It returns a new map and never mutates
// base or patch; nil values inside newly added maps are dropped too.
func MergeDynamicPatch(base, patch map[string]any) map[string]any {
	out := dynCopyMap(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, pv := range patch {
		if pv == nil {
			delete(out, k)
			continue
		}
		if pm, ok := dynAsMap(pv); ok {
			bm, _ := dynAsMap(out[k])
			out[k] = MergeDynamicPatch(bm, pm)
			continue
		}
		out[k] = dynCopyValue(pv)
	}
	return out
}

// ClosestKey returns the entry of known within edit distance 2 of name that
// is closest to it (ties: first in known), or "" if there is none.
func ClosestKey(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := dynEditDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func dynEditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func dynValidSlotName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func dynAsMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, val := range m {
			ks, ok := k.(string)
			if !ok {
				return nil, false
			}
			out[ks] = val
		}
		return out, true
	}
	return nil, false
}

func dynStrings(v any) ([]string, bool) {
	switch l := v.(type) {
	case []string:
		return append([]string(nil), l...), true
	case []any:
		out := make([]string, 0, len(l))
		for _, item := range l {
			s, ok := item.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

func dynCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = dynCopyValue(v)
	}
	return out
}

func dynCopyValue(v any) any {
	if m, ok := dynAsMap(v); ok {
		return dynCopyMap(m)
	}
	switch l := v.(type) {
	case []any:
		out := make([]any, len(l))
		for i := range l {
			out[i] = dynCopyValue(l[i])
		}
		return out
	case []string:
		return append([]string(nil), l...)
	case []map[string]any:
		out := make([]map[string]any, len(l))
		for i := range l {
			out[i] = dynCopyMap(l[i])
		}
		return out
	}
	return v
}

func dynSortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func dynContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// dynDescribe renders a bad value for an error message.
func dynDescribe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", x)
	case bool, json.Number, float32, float64, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x)
	case []any, []string, []map[string]any:
		return "a list"
	}
	if _, ok := dynAsMap(v); ok {
		return "a map"
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", v), "*")
}

var secondsWithUnit = regexp.MustCompile(`^\s*(\d+)\s*(ms|s|min|h|d)?\s*$`)

// ParseSecondsWithUnit reads a duration as Patroni 4 reads member_slots_ttl:
// an integer is seconds; a string is a non-negative integer with an optional
// unit ms, s, min, h or d ("15s", "30min", "1h", "45").
func ParseSecondsWithUnit(v any) (time.Duration, error) {
	if s, ok := v.(string); ok {
		m := secondsWithUnit.FindStringSubmatch(s)
		if m == nil {
			return 0, fmt.Errorf(`must be a non-negative integer (seconds) or one with a unit ms, s, min, h or d such as "15s" or "30min", got %q`, s)
		}
		n, err := strconv.ParseInt(m[1], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("value %q is too large", s)
		}
		unit := map[string]time.Duration{"": time.Second, "ms": time.Millisecond, "s": time.Second,
			"min": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
		if n > int64(math.MaxInt64/unit) {
			return 0, fmt.Errorf("value %q is too large", s)
		}
		return time.Duration(n) * unit, nil
	}
	n, ok := DynamicInt(v)
	if !ok || n < 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf(`must be a non-negative integer (seconds) or one with a unit such as "15s" or "30min", got %s`, dynDescribe(v))
	}
	return time.Duration(n) * time.Second, nil
}
