package main

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:  "history",
		Usage: "show the timeline history (patronictl history)",
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			var rows [][]any
			if err := newAPIClient(cfg).getJSON(c.Context, "/history", &rows); err != nil {
				return err
			}
			renderHistory(os.Stdout, rows)
			return nil
		},
	}
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

func showConfigCommand() *cli.Command {
	return &cli.Command{
		Name:  "show-config",
		Usage: "show the dynamic configuration (patronictl show-config)",
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			var dyn map[string]any
			if err := newAPIClient(cfg).getJSON(c.Context, "/config", &dyn); err != nil {
				return err
			}
			out, err := yaml.Marshal(normalizeNumbers(dyn))
			if err != nil {
				return err
			}
			os.Stdout.Write(out)
			return nil
		},
	}
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
