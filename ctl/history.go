package ctl

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// History is patronictl history: the timeline history, in format (pretty,
// tsv, json or yaml, as list's --format).
func History(ctx context.Context, env Env, format string) error {
	format, err := outputFormat(env.Verb, format)
	if err != nil {
		return err
	}
	cfg, _, err := env.verbConfig(0)
	if err != nil {
		return err
	}
	var rows [][]any
	if _, err := askAnyMember(ctx, cfg, env.Err, func(a *apiClient) error {
		rows = nil
		return a.getJSON(ctx, "/history", &rows)
	}); err != nil {
		return err
	}
	writeHistory(env.Out, format, rows)
	return nil
}

// writeHistory prints GET /history rows as patronictl history does in
// format: its table, or tsv, json or yaml with the table's column names.
func writeHistory(w io.Writer, format string, rows [][]any) {
	if format == "pretty" {
		renderHistory(w, rows)
		return
	}
	cols := []string{"TL", "LSN", "Reason", "Timestamp", "New Leader"}
	ms := make([]map[string]any, len(rows))
	for i, r := range rows {
		ms[i] = map[string]any{}
		for j, c := range cols {
			if j < len(r) {
				ms[i][c] = historyValue(r[j])
			}
		}
	}
	if format == "tsv" {
		writeTSV(w, cols, ms)
	} else {
		writeMachine(w, format, cols, ms)
	}
}

// historyValue keeps the timeline and LSN integers (JSON numbers decode as
// float64), as patronictl prints them.
func historyValue(v any) any {
	if f, ok := v.(float64); ok && f == float64(uint64(f)) {
		return int64(f)
	}
	return v
}

// ShowConfig is patronictl show-config: the dynamic configuration as YAML.
func ShowConfig(ctx context.Context, env Env) error {
	cfg, _, err := env.verbConfig(0)
	if err != nil {
		return err
	}
	var dyn map[string]any
	if _, err := askAnyMember(ctx, cfg, env.Err, func(a *apiClient) error {
		dyn = nil
		return a.getJSON(ctx, "/config", &dyn)
	}); err != nil {
		return err
	}
	out, err := configYAML(dyn)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Out, out) // click.echo adds a newline after the YAML's own
	return nil
}

// renderHistory prints patronictl's history table from GET /history rows
// ([timeline, lsn, reason, timestamp, new leader]); short rows get empty cells.
func renderHistory(w io.Writer, rows [][]any) {
	t := &table{headers: []string{"TL", "LSN", "Reason", "Timestamp", "New Leader"}, right: map[int]bool{0: true, 1: true}}
	for _, r := range rows {
		cells := make([]string, 5)
		for i := 0; i < 5 && i < len(r); i++ {
			cells[i] = historyCell(r[i])
		}
		t.add(cells...)
	}
	t.write(w)
}

func historyCell(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatUint(uint64(x), 10)
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// configYAML prints the dynamic configuration as patronictl's
// format_config_for_editing: block style, keys sorted, 2-space indent, and
// an empty document as "{}".
func configYAML(dyn map[string]any) (string, error) {
	if len(dyn) == 0 {
		return "{}\n", nil
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(normalizeNumbers(dyn)); err != nil {
		return "", err
	}
	return b.String(), nil
}

// normalizeNumbers turns integral JSON numbers back into integers so YAML
// prints 10, not 10.0.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeNumbers(e)
		}
		return out
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return v
}
