package api

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// secretMask replaces a secret in what GET /config (and the answers of
// PATCH and PUT) show. A PATCH or PUT that sends the mask back where a
// secret is stored keeps the stored value, so a client that reads, edits one
// key and writes the whole document back loses nothing.
const secretMask = "********"

// What counts as a secret in the dynamic configuration:
//   - the whole value of a key whose name contains one of secretWords
//     (password, passwd, secret, token, passphrase);
//   - the password inside a string: libpq's "password=..." and the
//     user:password@ part of a postgres:// URI (primary_conninfo,
//     standby_cluster settings, recovery_conf).
//
// Commands such as archive_command are shown as written: a password spelled
// inside a shell command cannot be told from the rest of it.
var secretWords = []string{"password", "passwd", "secret", "token", "passphrase"}

var (
	conninfoPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']+)`)
	uriPassword      = regexp.MustCompile(`(?i)(\bpostgres(?:ql)?://[^:@/\s]*:)([^@/\s]+)(@)`)
)

func secretKey(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// maskString hides the passwords inside s.
func maskString(s string) string {
	s = conninfoPassword.ReplaceAllString(s, "${1}"+secretMask)
	return uriPassword.ReplaceAllString(s, "${1}"+secretMask+"${3}")
}

// maskConfig returns a copy of cfg with every secret masked.
func maskConfig(cfg map[string]any) map[string]any {
	out := make(map[string]any, len(cfg))
	for k, v := range cfg {
		out[k] = maskValue(v, secretKey(k))
	}
	return out
}

func maskValue(v any, secret bool) any {
	switch x := v.(type) {
	case map[string]any:
		return maskConfig(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = maskValue(e, secret)
		}
		return out
	case nil:
		return nil
	case string:
		if secret && x != "" {
			return secretMask
		}
		return maskString(x)
	}
	if secret {
		return secretMask
	}
	return v
}

// unmaskBody puts the stored secrets back where body (a PATCH or PUT
// document) carries them masked, in place. A mask that matches nothing
// stored is an error naming the key: storing the mask itself as a password
// would silently break what used it.
func unmaskBody(body, stored map[string]any) error {
	return unmaskMap(body, stored, "")
}

func unmaskMap(body, stored map[string]any, path string) error {
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first bad key is always the same one
	for _, k := range keys {
		v, err := unmaskValue(body[k], stored[k], secretKey(k), joinKey(path, k))
		if err != nil {
			return err
		}
		body[k] = v
	}
	return nil
}

func unmaskValue(v, stored any, secret bool, path string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		sm, _ := stored.(map[string]any)
		return x, unmaskMap(x, sm, path)
	case []any:
		sl, _ := stored.([]any)
		for i := range x {
			var s any
			if i < len(sl) {
				s = sl[i]
			}
			e, err := unmaskValue(x[i], s, secret, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			x[i] = e
		}
		return x, nil
	case string:
		if !strings.Contains(x, secretMask) {
			return x, nil
		}
		if stored != nil {
			if masked := maskValue(stored, secret); masked == x && !sameValue(masked, stored) {
				return stored, nil
			}
		}
		return nil, fmt.Errorf("%w: key %q holds the mask %s where no stored secret matches it: send the real value",
			errBadRequest, path, secretMask)
	}
	return v, nil
}

func sameValue(a, b any) bool {
	as, aok := a.(string)
	bs, bok := b.(string)
	return aok && bok && as == bs
}

func joinKey(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}
