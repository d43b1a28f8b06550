package dynconfig

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Checks of postgresql.parameters that PostgreSQL 15 would refuse at start
// (a value out of range or that it cannot parse stops the server: a restart
// then leaves the member down). They run only in ValidateDynamicConfig
// (strict), before a proposal: PATCH/PUT /config answer 400 naming the key
// and nothing is stored. Apply never runs them (DESIGN.md, rolling upgrades).
//
// Not refused, on purpose: a max_connections (max_worker_processes,
// max_wal_senders, max_prepared_transactions, max_locks_per_transaction)
// lower than the primary runs with. PostgreSQL refuses to run a standby with
// less than its primary had; the agent keeps these at least at the values
// pg_controldata records on standbys, as Patroni does (adapter/dynamic.go),
// so a lowered value applies to the primary at its restart and reaches the
// standbys through WAL without stopping them.

// pgIntParam is an integer setting with PostgreSQL 15's bounds.
type pgIntParam struct{ min, max int64 }

const pgMaxBackends = 262143 // MAX_BACKENDS

var pgIntParams = map[string]pgIntParam{
	"max_connections":                {1, pgMaxBackends},
	"superuser_reserved_connections": {0, pgMaxBackends},
	"max_worker_processes":           {0, pgMaxBackends},
	"max_wal_senders":                {0, pgMaxBackends},
	"max_replication_slots":          {0, pgMaxBackends},
	"max_prepared_transactions":      {0, pgMaxBackends},
	"max_locks_per_transaction":      {10, math.MaxInt32},
	"max_pred_locks_per_transaction": {10, math.MaxInt32},
	"max_parallel_workers":           {0, 1024},
	"autovacuum_max_workers":         {1, pgMaxBackends},
}

// pgMemParam is a memory setting: its unit in kB and its bounds in units.
type pgMemParam struct {
	unitKB   int64
	min, max int64
}

var pgMemParams = map[string]pgMemParam{
	"shared_buffers":       {8, 16, math.MaxInt32 / 2},
	"work_mem":             {1, 64, math.MaxInt32},
	"maintenance_work_mem": {1, 1024, math.MaxInt32},
	"temp_buffers":         {8, 100, math.MaxInt32 / 2},
	"effective_cache_size": {8, 1, math.MaxInt32},
	"wal_keep_size":        {1024, 0, math.MaxInt32},
	"max_wal_size":         {1024, 2, math.MaxInt32},
	"min_wal_size":         {1024, 2, math.MaxInt32},
}

// checkParameters adds an error for each parameter PostgreSQL would refuse.
func (p *dynParser) checkParameters(key string) {
	params := p.c.Parameters
	ints := map[string]int64{}
	for _, name := range dynSortedKeys(params) {
		lname, v := strings.ToLower(name), params[name]
		if b, ok := pgIntParams[lname]; ok {
			n, ok := ParameterInt(v)
			if !ok || n < b.min || n > b.max {
				p.fail(key+"."+name, "must be an integer from %d to %d, got %s", b.min, b.max, dynDescribe(v))
				continue
			}
			ints[lname] = n
		}
		if m, ok := pgMemParams[lname]; ok {
			if err := checkMemory(v, m); err != nil {
				p.fail(key+"."+name, "%v", err)
			}
		}
		if lname == "wal_level" {
			if s := strings.ToLower(fmt.Sprint(v)); s != "replica" && s != "logical" && s != "archive" && s != "hot_standby" {
				p.fail(key+"."+name, "must be replica or logical (replicas stream WAL), got %s", dynDescribe(v))
			}
		}
	}
	maxConn, ok := ints["max_connections"]
	if !ok {
		maxConn = 100
	}
	reserved, ok := ints["superuser_reserved_connections"]
	if !ok {
		reserved = 3
	}
	if reserved >= maxConn {
		p.fail(key+".superuser_reserved_connections", "(%d) must be less than max_connections (%d): PostgreSQL refuses to start", reserved, maxConn)
	}
}

// ParameterInt reads an integer setting as PostgreSQL would: a number or a
// string holding one (no unit).
func ParameterInt(v any) (int64, bool) {
	if n, ok := DynamicInt(v); ok {
		return n, true
	}
	if s, ok := v.(string); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// memoryUnitsKB are PostgreSQL's memory units.
var memoryUnitsKB = map[string]float64{"B": 1.0 / 1024, "kB": 1, "MB": 1024, "GB": 1024 * 1024, "TB": 1024 * 1024 * 1024}

// checkMemory reads a memory setting ("128MB", "16384" in the setting's own
// unit, or -1 where allowed) and checks its bounds.
func checkMemory(v any, m pgMemParam) error {
	units := float64(0)
	switch {
	case isNumber(v):
		n, _ := DynamicInt(v)
		units = float64(n)
	default:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("must be a size such as 128MB, got %s", dynDescribe(v))
		}
		s = strings.TrimSpace(s)
		i := len(s)
		for i > 0 && (s[i-1] < '0' || s[i-1] > '9') {
			i--
		}
		num, unit := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i:])
		f, err := strconv.ParseFloat(num, 64)
		kb, known := memoryUnitsKB[unit]
		switch {
		case err != nil || (unit != "" && !known):
			return fmt.Errorf("PostgreSQL cannot parse %q as a size (valid units: B, kB, MB, GB, TB)", s)
		case unit == "":
			units = f
		default:
			units = f * kb / float64(m.unitKB)
		}
	}
	if units < float64(m.min) || units > float64(m.max) {
		return fmt.Errorf("%s is outside PostgreSQL's range (%s to %s)", dynDescribe(v), sizeText(m.min*m.unitKB), sizeText(m.max*m.unitKB))
	}
	return nil
}

func isNumber(v any) bool {
	_, ok := DynamicInt(v)
	return ok
}

func sizeText(kb int64) string {
	switch {
	case kb >= 1024*1024 && kb%(1024*1024) == 0:
		return fmt.Sprintf("%dGB", kb/(1024*1024))
	case kb >= 1024 && kb%1024 == 0:
		return fmt.Sprintf("%dMB", kb/1024)
	}
	return fmt.Sprintf("%dkB", kb)
}
