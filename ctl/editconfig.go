package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"strings"

	"github.com/conclave-ha/conclave/config"
)

// editRequest is what edit-config was asked to change.
type editRequest struct {
	sets           []string // KEY=VALUE, postgresql.parameters.* included
	apply, replace string   // file names, "-" = stdin
}

// EditConfigOptions are edit-config's flags.
type EditConfigOptions struct {
	Set, PG        []string // KEY=VALUE, PARAM=VALUE
	Apply, Replace string   // file names, "-" = stdin
	Force, Quiet   bool
}

// EditConfig is patronictl edit-config: change the dynamic configuration
// (a diff, a question, then PATCH or PUT /config with If-Match).
func EditConfig(ctx context.Context, env Env, o EditConfigOptions) error {
	cfg, _, err := env.verbConfig(0)
	if err != nil {
		return err
	}
	req := editRequest{sets: o.Set, apply: o.Apply, replace: o.Replace}
	for _, p := range o.PG {
		req.sets = append(req.sets, "postgresql.parameters."+strings.TrimLeft(p, " "))
	}
	if req.apply == "-" && req.replace == "-" {
		return UsageError{errors.New("edit-config: --apply and --replace cannot both read stdin")}
	}
	var (
		current map[string]any
		etag    string
		api     *apiClient
	)
	if _, err := askAnyMember(ctx, cfg, env.Err, func(a *apiClient) error {
		current = nil
		h, err := a.exchange(ctx, http.MethodGet, "/config", nil, nil, &current)
		if err == nil {
			etag, api = h.Get("ETag"), a
		}
		return err
	}); err != nil {
		return err
	}
	current = canonical(current)
	before, err := configYAML(current)
	if err != nil {
		return err
	}
	next, err := editedConfig(current, before, req, env.In)
	if err != nil {
		return err
	}
	quiet := o.Quiet
	if reflect.DeepEqual(next, current) {
		if !quiet {
			fmt.Fprintln(env.Out, "Not changed")
		}
		return nil
	}
	after, err := configYAML(next)
	if err != nil {
		return err
	}
	if !quiet {
		fmt.Fprint(env.Out, unifiedDiff(before, after))
	}
	force := o.Force
	if (req.apply == "-" || req.replace == "-") && !force {
		fmt.Fprintln(env.Out, "Use --force option to apply changes")
		return nil
	}
	if !force {
		ok, err := newTerminal(env.In, env.Out).confirm("Apply these changes?")
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("aborted: the configuration was not changed")
		}
	}
	method, body := http.MethodPatch, mergePatch(current, next)
	if req.replace != "" {
		method, body = http.MethodPut, next
	}
	hdr := http.Header{}
	if etag != "" {
		hdr.Set("If-Match", etag)
	}
	answer, err := api.exchange(ctx, method, "/config", hdr, body, nil)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusConflict {
			return fmt.Errorf("config modification aborted due to concurrent changes (%s); run edit-config again", ae.Message)
		}
		return err
	}
	fmt.Fprintln(env.Out, "Configuration changed")
	if w := warningText(answer.Get("Warning")); w != "" {
		fmt.Fprintln(env.Out, "Warning: "+w)
	}
	return nil
}

// warningText is the quoted text of an HTTP Warning header ("" if none).
func warningText(h string) string {
	i, j := strings.Index(h, `"`), strings.LastIndex(h, `"`)
	if i < 0 || j <= i {
		return ""
	}
	return h[i+1 : j]
}

// editedConfig applies the request to current as patronictl does: --replace
// starts from an empty document, --apply merges a file, -s/-p set keys; with
// none of them the editor opens on before.
func editedConfig(current map[string]any, before string, req editRequest, stdin io.Reader) (map[string]any, error) {
	next := canonical(current)
	edited := false
	if req.replace != "" {
		m, err := readYAMLMap(req.replace, stdin)
		if err != nil {
			return nil, err
		}
		next, edited = mergeConfig(map[string]any{}, m), true
	}
	if req.apply != "" {
		m, err := readYAMLMap(req.apply, stdin)
		if err != nil {
			return nil, err
		}
		next, edited = mergeConfig(next, m), true
	}
	for _, kv := range req.sets {
		key, val, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(key) == "" {
			return nil, UsageError{fmt.Errorf("edit-config: invalid parameter setting %q: use KEY=VALUE", kv)}
		}
		v, err := config.UnmarshalYAML11([]byte(val))
		if err != nil {
			return nil, UsageError{fmt.Errorf("edit-config: value of %s: %v", strings.TrimSpace(key), err)}
		}
		setPath(next, strings.Split(strings.TrimSpace(key), "."), canonicalValue(v), nil)
		edited = true
	}
	if edited {
		return next, nil
	}
	text, err := runEditor(before)
	if err != nil {
		return nil, err
	}
	v, err := config.UnmarshalYAML11([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("edited configuration: %v; nothing was changed", err)
	}
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := canonicalValue(v).(map[string]any)
	if !ok {
		return nil, errors.New("edited configuration is not a YAML map of keys; nothing was changed")
	}
	return m, nil
}

// setPath sets a dotted key; nil deletes it and removes maps it empties.
// Below postgresql.parameters the rest of the path is one parameter name
// (GUCs such as auto_explain.log_min_duration contain dots).
func setPath(m map[string]any, path []string, v any, prefix []string) {
	if len(prefix) == 2 && prefix[0] == "postgresql" && prefix[1] == "parameters" {
		path = []string{strings.Join(path, ".")}
	}
	key := path[0]
	if len(path) == 1 {
		if v == nil {
			delete(m, key)
		} else {
			m[key] = v
		}
		return
	}
	sub, ok := m[key].(map[string]any)
	if !ok {
		sub = map[string]any{}
		m[key] = sub
	}
	setPath(sub, path[1:], v, append(prefix, key))
	if len(sub) == 0 {
		delete(m, key)
	}
}

// mergeConfig is Patroni's patch_config: maps merge, null deletes.
func mergeConfig(base, patch map[string]any) map[string]any {
	out := canonical(base)
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(out, k)
		case map[string]any:
			if bv, ok := out[k].(map[string]any); ok {
				out[k] = mergeConfig(bv, pv)
			} else {
				out[k] = mergeConfig(map[string]any{}, pv)
			}
		default:
			out[k] = v
		}
	}
	return out
}

// mergePatch is the PATCH body that turns from into to: changed values,
// null for removed keys, nested maps as patches.
func mergePatch(from, to map[string]any) map[string]any {
	p := map[string]any{}
	for k := range from {
		if _, ok := to[k]; !ok {
			p[k] = nil
		}
	}
	for k, tv := range to {
		fv, had := from[k]
		fm, fok := fv.(map[string]any)
		tm, tok := tv.(map[string]any)
		switch {
		case had && fok && tok:
			if sub := mergePatch(fm, tm); len(sub) > 0 {
				p[k] = sub
			}
		case !had || !reflect.DeepEqual(fv, tv):
			p[k] = tv
		}
	}
	return p
}

// canonical deep-copies a configuration document into the shape JSON gives
// (map[string]any, []any, float64, string, bool, nil), so documents from
// the API and from YAML compare equal when they mean the same.
func canonical(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	out, _ := canonicalValue(m).(map[string]any)
	if out == nil {
		return map[string]any{}
	}
	return out
}

func canonicalValue(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(raw, &out) != nil {
		return v
	}
	return out
}

// readYAMLMap reads a YAML map from a file or, for "-", from stdin.
func readYAMLMap(name string, stdin io.Reader) (map[string]any, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("edit-config: %w", err)
	}
	v, err := config.UnmarshalYAML11(data)
	if err != nil {
		return nil, fmt.Errorf("edit-config: %s: %v", name, err)
	}
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := canonicalValue(v).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("edit-config: %s: must be a YAML map of configuration keys", name)
	}
	return m, nil
}

// runEditor opens $EDITOR (else editor, else vi, as patronictl looks for
// them) on text and returns what was saved.
func runEditor(text string) (string, error) {
	var editor string
	for _, e := range []string{os.Getenv("EDITOR"), "editor", "vi"} {
		if e == "" {
			continue
		}
		if _, err := exec.LookPath(strings.Fields(e)[0]); err == nil {
			editor = e
			break
		}
	}
	if editor == "" {
		return "", errors.New("edit-config: no editor found: set EDITOR, or use --set, --pg, --apply or --replace")
	}
	f, err := os.CreateTemp("", "conclave-config-*.yaml")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	args := append(strings.Fields(editor)[1:], f.Name())
	cmd := exec.Command(strings.Fields(editor)[0], args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("edit-config: editor %s: %w; nothing was changed", editor, err)
	}
	out, err := os.ReadFile(f.Name())
	return string(out), err
}
