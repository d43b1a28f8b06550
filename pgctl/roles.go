package pgctl

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// User is a role to create at bootstrap (Patroni's bootstrap.users).
type User struct {
	Password string
	// Options are role attributes: SUPERUSER, CREATEDB, CREATEROLE, INHERIT,
	// LOGIN, REPLICATION, BYPASSRLS, their NO* forms, and
	// "CONNECTION LIMIT <n>"; case-insensitive. LOGIN is implied unless
	// NOLOGIN is given. Anything else is rejected.
	Options []string
}

var roleKeywords = map[string]bool{
	"SUPERUSER": true, "NOSUPERUSER": true, "CREATEDB": true, "NOCREATEDB": true,
	"CREATEROLE": true, "NOCREATEROLE": true, "INHERIT": true, "NOINHERIT": true,
	"LOGIN": true, "NOLOGIN": true, "REPLICATION": true, "NOREPLICATION": true,
	"BYPASSRLS": true, "NOBYPASSRLS": true,
}

// CreateRoles makes the roles match the configuration, idempotently, in one
// transaction with statement logging off (passwords stay out of the log):
//   - sets the superuser's password when one is configured;
//   - creates or alters the replication role (LOGIN REPLICATION, password),
//     unless it is the superuser;
//   - creates or alters the rewind role (LOGIN, password) and grants it the
//     functions pg_rewind needs, unless it is the superuser;
//   - creates or alters each of users with its options and password.
func (i *Instance) CreateRoles(ctx context.Context, users map[string]User) error {
	type role struct {
		name   string
		opts   []string
		pw     string
		rewind bool
	}
	var roles []role
	su, repl, rew := i.cfg.Superuser, i.cfg.Replication, i.cfg.Rewind
	if su.Password != "" {
		roles = append(roles, role{name: su.Username, opts: []string{"SUPERUSER", "LOGIN"}, pw: su.Password})
	}
	if repl.Username != su.Username {
		roles = append(roles, role{name: repl.Username, opts: []string{"LOGIN", "REPLICATION"}, pw: repl.Password})
	}
	if rew.Username != su.Username && rew.Username != repl.Username {
		roles = append(roles, role{name: rew.Username, opts: []string{"LOGIN"}, pw: rew.Password, rewind: true})
	}
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		opts, err := roleOptions(users[n].Options)
		if err != nil {
			return fmt.Errorf("create roles: user %s: %w", n, err)
		}
		roles = append(roles, role{name: n, opts: opts, pw: users[n].Password})
	}
	err := i.withConn(ctx, func(c sqlConn) error {
		return pgx.BeginFunc(ctx, txBeginner{c}, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, qQuietSecrets); err != nil {
				return err
			}
			for _, r := range roles {
				if r.name == "" {
					continue
				}
				var exists bool
				if err := tx.QueryRow(ctx, qRoleExists, r.name).Scan(&exists); err != nil {
					return err
				}
				stmt, err := roleStatement(r.name, exists, r.opts, r.pw)
				if err != nil {
					return fmt.Errorf("role %s: %w", r.name, err)
				}
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("role %s: %w", r.name, err)
				}
				if r.rewind {
					if _, err := tx.Exec(ctx, fmt.Sprintf(qRewindGrants, pgx.Identifier{r.name}.Sanitize())); err != nil {
						return fmt.Errorf("role %s: grants: %w", r.name, err)
					}
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("create roles %s: %w", i.cfg.DataDir, err)
	}
	return nil
}

// txBeginner adapts sqlConn to pgx.BeginFunc.
type txBeginner struct{ c sqlConn }

func (b txBeginner) Begin(ctx context.Context) (pgx.Tx, error) { return b.c.Begin(ctx) }

// roleOptions validates and normalises User.Options, adding LOGIN.
func roleOptions(in []string) ([]string, error) {
	var out []string
	login := true
	for _, o := range in {
		f := strings.Fields(strings.ToUpper(o))
		switch {
		case len(f) == 1 && roleKeywords[f[0]]:
			if f[0] == "NOLOGIN" {
				login = false
			}
			out = append(out, f[0])
		case len(f) == 3 && f[0] == "CONNECTION" && f[1] == "LIMIT":
			n, err := strconv.Atoi(f[2])
			if err != nil || n < -1 {
				return nil, fmt.Errorf("invalid option %q", o)
			}
			out = append(out, "CONNECTION LIMIT "+strconv.Itoa(n))
		default:
			return nil, fmt.Errorf("unsupported role option %q", o)
		}
	}
	if login {
		out = append([]string{"LOGIN"}, out...)
	}
	return out, nil
}

// roleStatement builds CREATE ROLE or ALTER ROLE; the name is a quoted
// identifier and the password a quoted literal (no bind parameters here).
func roleStatement(name string, exists bool, opts []string, password string) (string, error) {
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	s := verb + " ROLE " + pgx.Identifier{name}.Sanitize() + " WITH " + strings.Join(opts, " ")
	if password != "" {
		lit, err := quoteLiteral(password)
		if err != nil {
			return "", err
		}
		s += " PASSWORD " + lit
	}
	return s, nil
}

// quoteLiteral returns s as an SQL string literal, valid whatever
// standard_conforming_strings says: E'...' with ' and \ doubled.
func quoteLiteral(s string) (string, error) {
	if strings.ContainsRune(s, 0) {
		return "", fmt.Errorf("string contains a NUL byte")
	}
	return "E'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'", nil
}
