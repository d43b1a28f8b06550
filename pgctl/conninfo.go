package pgctl

import (
	"fmt"
	"strconv"
	"strings"
)

// ConnInfo is a libpq connection to another member.
type ConnInfo struct {
	Host     string
	Port     int // 0: omitted (libpq default)
	User     string
	Password string // "" omitted; pgctl passes it via pgpass to binaries, never on argv
	AppName  string // application_name
	DBName   string // "" omitted
}

// String returns a libpq keyword/value connection string. Empty fields are
// omitted; values with spaces, quotes or backslashes are single-quoted with
// ' and \ escaped by a backslash, as libpq requires.
func (c ConnInfo) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+quoteConnValue(v))
		}
	}
	add("host", c.Host)
	if c.Port != 0 {
		add("port", strconv.Itoa(c.Port))
	}
	add("user", c.User)
	add("password", c.Password)
	add("dbname", c.DBName)
	add("application_name", c.AppName)
	return strings.Join(parts, " ")
}

func quoteConnValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r\f\v'\\=") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}

// ParseLSN parses PostgreSQL's "XXXXXXXX/XXXXXXXX" notation.
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, fmt.Errorf("invalid lsn %q", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid lsn %q", s)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid lsn %q", s)
	}
	return h<<32 | l, nil
}

// FormatLSN formats an LSN as PostgreSQL does ("0/3000148").
func FormatLSN(lsn uint64) string {
	return fmt.Sprintf("%X/%X", lsn>>32, lsn&0xFFFFFFFF)
}

// SlotName turns a member name into a valid physical replication slot name
// as Patroni does: lower case, every character outside [a-z0-9_] becomes
// '_', at most 63 bytes.
func SlotName(member string) string {
	b := []byte(strings.ToLower(member))
	for k, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			b[k] = '_'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	return string(b)
}

func validSlotName(s string) bool {
	return s != "" && len(s) <= 63 && SlotName(s) == s
}

// pgpassEscape escapes a pgpass field: ':' and '\' get a backslash.
func pgpassEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(s)
}
