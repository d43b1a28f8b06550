package dynconfig

import (
	"strings"
	"testing"
)

func TestValidateDynamicConfig_ParametersPostgreSQLWouldRefuse(t *testing.T) {
	bad := []struct {
		params map[string]any
		key    string
		says   string
	}{
		{map[string]any{"max_connections": 0}, "postgresql.parameters.max_connections", "integer from 1"},
		{map[string]any{"max_connections": "many"}, "postgresql.parameters.max_connections", "integer"},
		{map[string]any{"max_wal_senders": -1}, "postgresql.parameters.max_wal_senders", "integer from 0"},
		{map[string]any{"max_locks_per_transaction": 5}, "postgresql.parameters.max_locks_per_transaction", "integer from 10"},
		{map[string]any{"shared_buffers": "lots"}, "postgresql.parameters.shared_buffers", "cannot parse"},
		{map[string]any{"shared_buffers": "128XB"}, "postgresql.parameters.shared_buffers", "cannot parse"},
		{map[string]any{"shared_buffers": "64kB"}, "postgresql.parameters.shared_buffers", "outside PostgreSQL's range"},
		{map[string]any{"work_mem": "1kB"}, "postgresql.parameters.work_mem", "outside"},
		{map[string]any{"wal_level": "minimal"}, "postgresql.parameters.wal_level", "replica or logical"},
		{map[string]any{"max_connections": 3}, "postgresql.parameters.superuser_reserved_connections", "less than max_connections"},
		{map[string]any{"max_connections": 10, "superuser_reserved_connections": 10}, "postgresql.parameters.superuser_reserved_connections", "(10) must be less than max_connections (10)"},
	}
	for _, c := range bad {
		err := ValidateDynamicConfig(map[string]any{"postgresql": map[string]any{"parameters": c.params}})
		if err == nil || !strings.Contains(err.Error(), `"`+c.key+`"`) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%v: %v; want an error naming %s saying %q", c.params, err, c.key, c.says)
		}
		if err := AcceptDynamicConfig(map[string]any{"postgresql": map[string]any{"parameters": c.params}}); err != nil {
			t.Errorf("%v: Apply's check refused it (%v): it must never become stricter", c.params, err)
		}
	}
	good := []map[string]any{
		{"max_connections": 200, "shared_buffers": "256MB", "work_mem": "4MB", "wal_level": "logical"},
		{"max_connections": "50", "shared_buffers": 16384, "maintenance_work_mem": "1GB", "wal_keep_size": "128MB"},
		{"shared_buffers": "1.5GB", "superuser_reserved_connections": 2, "max_connections": 3},
		{"Max_Connections": 10, "log_min_messages": "warning"},
	}
	for _, params := range good {
		if err := ValidateDynamicConfig(map[string]any{"postgresql": map[string]any{"parameters": params}}); err != nil {
			t.Errorf("%v refused: %v", params, err)
		}
	}
}
