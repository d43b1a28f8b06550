package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/conclave-ha/conclave/config"
)

// QueryOptions are query's flags.
type QueryOptions struct {
	Role, Member string
	Command      string // the SQL to run
	CommandSet   bool   // --command was given
	File         string // a file of SQL ("-": stdin)
	FileSet      bool   // --file was given
	Username     string
	Password     bool // ask for the password
	DBName       string
	Format       string // pretty, tsv, json, yaml (yml)
	Delimiter    string // tsv's column delimiter
}

// Query is patronictl query: run SQL on a member, the leader by default.
func Query(ctx context.Context, env Env, o QueryOptions) error {
	format, err := outputFormat("query", o.Format)
	if err != nil {
		return err
	}
	sql, err := querySQL(env, o)
	if err != nil {
		return err
	}
	cfg, view, err := clusterForMember(ctx, env, o.Role, o.Member)
	if err != nil {
		return err
	}
	m, err := pickMember(view, o.Role, o.Member)
	if err != nil {
		return err
	}
	user, password := queryCredentials(cfg, o.Username)
	if o.Password {
		if password, err = newTerminal(env.In, env.Err).password(); err != nil {
			return err
		}
	}
	res, err := runSQL(ctx, m, user, password, o.DBName, sql)
	if err != nil {
		return fmt.Errorf("query on %s: %w", m.Name, err)
	}
	cols, rows := resultTable(res)
	writeQueryResult(env.Out, format, o.Delimiter, cols, rows)
	return nil
}

func querySQL(env Env, o QueryOptions) (string, error) {
	cmd, file := o.Command, o.File
	switch {
	case o.CommandSet && o.FileSet:
		return "", UsageError{errors.New("--file and --command are mutually exclusive options")}
	case o.CommandSet:
		return cmd, nil
	case o.FileSet:
		var b []byte
		var err error
		if file == "-" {
			b, err = io.ReadAll(env.In)
		} else {
			b, err = os.ReadFile(file)
		}
		if err != nil {
			return "", fmt.Errorf("query: %w", err)
		}
		return string(b), nil
	}
	return "", UsageError{errors.New("you need to specify either --command or --file")}
}

// queryCredentials: -U, else the file's superuser; the superuser's
// password from the file, any other user's from PGPASSWORD or ~/.pgpass.
func queryCredentials(cfg *config.Config, user string) (string, string) {
	su := cfg.PostgreSQL.Authentication.Superuser
	if user == "" || user == su.Username {
		return su.Username, su.Password
	}
	return user, ""
}

// runSQL runs sql (one or more statements, simple protocol) on the member
// and returns the last statement's result, as psycopg's cursor does.
func runSQL(ctx context.Context, m clusterMember, user, password, dbname, sql string) (*pgconn.Result, error) {
	dsn := fmt.Sprintf("host=%s port=%d dbname=%s connect_timeout=5 application_name='conclave ctl'", m.Host, m.Port, quoteConnValue(dbname))
	if user != "" {
		dsn += " user=" + quoteConnValue(user)
	}
	if password != "" { // else PGPASSWORD or the password file, as libpq
		dsn += " password=" + quoteConnValue(password)
	}
	pc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgconn.ConnectConfig(cctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", net.JoinHostPort(m.Host, strconv.Itoa(m.Port)), err)
	}
	defer conn.Close(context.Background())
	results, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(results) == 0 {
		return &pgconn.Result{}, nil
	}
	return results[len(results)-1], nil
}

func quoteConnValue(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// resultTable turns a result into patronictl's columns and rows: the
// column names and values as Python prints them (None, True, False), or
// the command tag under "statusmessage" when no rows were returned.
func resultTable(r *pgconn.Result) ([]string, [][]string) {
	if len(r.FieldDescriptions) == 0 {
		return []string{"statusmessage"}, [][]string{{r.CommandTag.String()}}
	}
	cols := make([]string, len(r.FieldDescriptions))
	for i, f := range r.FieldDescriptions {
		cols[i] = f.Name
	}
	rows := make([][]string, len(r.Rows))
	for i, row := range r.Rows {
		rows[i] = make([]string, len(row))
		for j, v := range row {
			switch {
			case v == nil:
				rows[i][j] = "None"
			case r.FieldDescriptions[j].DataTypeOID == 16: // bool
				rows[i][j] = map[string]string{"t": "True", "f": "False"}[string(v)]
			default:
				rows[i][j] = string(v)
			}
		}
	}
	return cols, rows
}

// writeQueryResult prints as patronictl's print_output without a title.
func writeQueryResult(w io.Writer, format, delimiter string, cols []string, rows [][]string) {
	switch format {
	case "tsv":
		fmt.Fprintln(w, strings.Join(cols, delimiter))
		for _, r := range rows {
			fmt.Fprintln(w, strings.Join(r, delimiter))
		}
	case "pretty":
		t := &table{headers: cols}
		for _, r := range rows {
			t.add(r...)
		}
		t.write(w)
	default:
		ms := make([]map[string]any, len(rows))
		for i, r := range rows {
			ms[i] = map[string]any{}
			for j, c := range cols {
				ms[i][c] = r[j]
			}
		}
		writeMachine(w, format, cols, ms)
	}
}
