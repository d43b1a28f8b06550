package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/conclave-ha/conclave/fsm"
)

// Load reads path, decodes it strictly, applies the PATRONI_*/CONCLAVE_*
// environment overrides from the process environment, fills defaults and
// validates. It does not look at the machine beyond reading the file; see
// CheckEnvironment.
func Load(path string) (*Config, error) {
	return LoadWithEnv(path, os.Getenv)
}

// LoadWithEnv is Load with the environment read through getenv (nil = none).
func LoadWithEnv(path string, getenv func(string) string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseWithEnv(data, path, getenv)
}

// Parse is Load without reading the file: data is the file's content and
// path names it in messages. Overrides come from the process environment.
func Parse(data []byte, path string) (*Config, error) {
	return ParseWithEnv(data, path, os.Getenv)
}

// ParseWithEnv is Parse with the environment read through getenv (nil = none).
func ParseWithEnv(data []byte, path string, getenv func(string) string) (*Config, error) {
	if path == "" {
		path = "config"
	}
	root, err := parseYAML(data, path)
	if err != nil {
		return nil, err
	}
	d := &decoder{file: path, origin: map[string]string{}}
	d.prepass(root, "")
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	c := &Config{Path: path}
	d.config(root, c)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	if getenv != nil {
		d.applyEnv(c, getenv)
	}
	c.Witness = !d.isSet("postgresql") && c.PostgreSQL.Listen == "" && c.PostgreSQL.DataDir == ""
	c.withDefaults(d.isSet)
	c.securityDefaults(d.isSet)
	c.absolutePaths()
	d.validate(c)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	c.Unused = append(d.notActedOnSet(), d.unused...)
	c.origin = d.origin
	return c, nil
}

// Dynamic returns the typed bootstrap.dcs (defaults when it is absent).
func (c *Config) Dynamic() (fsm.DynamicConfig, error) {
	return fsm.ParseDynamicConfig(c.Bootstrap.DCS)
}

// APIURL returns the base URL other members and clients use for this
// member's REST API, "http://<restapi.connect_address>" (https with restapi.certfile).
func (c *Config) APIURL() string {
	return c.APIScheme() + "://" + c.RestAPI.ConnectAddress
}

// RaftServers returns raft.self_addr and raft.partner_addrs, deduplicated
// and sorted, so that every member computes the same list.
func (c *Config) RaftServers() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range append([]string{c.Raft.SelfAddr}, c.Raft.PartnerAddrs...) {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config file %s does not exist; pass the path of your conclave.yml: %w", path, err)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("config file %s: cannot access it as the current user; check permissions: %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("config file %s: %w", path, err)
	case fi.IsDir():
		return nil, fmt.Errorf("config file %s is a directory; pass the path of the YAML file inside it", path)
	case fi.Size() > maxConfigFileBytes:
		return nil, fmt.Errorf("config file %s is %d bytes; the limit is %d (1 MiB)", path, fi.Size(), maxConfigFileBytes)
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("config file %s is not readable by the current user; fix its permissions: %w", path, err)
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read config file %s: %w", path, err)
	}
	if len(data) > maxConfigFileBytes {
		return nil, fmt.Errorf("config file %s is larger than the limit of %d bytes (1 MiB)", path, maxConfigFileBytes)
	}
	return data, nil
}

// parseYAML checks encoding and shape and returns the top-level mapping.
func parseYAML(data []byte, path string) (*yaml.Node, error) {
	if len(data) > maxConfigFileBytes {
		return nil, fmt.Errorf("%s: config is larger than the limit of %d bytes (1 MiB)", path, maxConfigFileBytes)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		line := 1
		for i := 0; i < len(data); {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			if r == '\n' {
				line++
			}
			i += size
		}
		return nil, fmt.Errorf("%s:%d: file is not valid UTF-8; save it as UTF-8", path, line)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: config file is empty", path)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: config file has no content (only comments?)", path)
		}
		return nil, fmt.Errorf("%s: invalid YAML: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s:%d: more than one YAML document; keep only one", path, extra.Line)
	} else if !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: invalid YAML: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: config file has no content", path)
	}
	root := resolve(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, fmt.Errorf("%s: config file has no content", path)
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: the top level must be a map of keys (scope, name, restapi, ...), got %s", path, root.Line, describe(root))
	}
	return root, nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe renders a node's value for an error message.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!str", "!!binary", "!!timestamp":
			return fmt.Sprintf("%q", n.Value)
		}
		return n.Value
	}
	return "nothing"
}

// absolutePaths resolves relative paths against the working directory, as
// Patroni does (its tutorial uses data_dir: data/postgresql0), so the rest
// of the agent only sees absolute ones.
func (c *Config) absolutePaths() {
	for _, p := range []*string{&c.Raft.DataDir, &c.PostgreSQL.DataDir, &c.PostgreSQL.BinDir,
		&c.PostgreSQL.ConfigDir, &c.PostgreSQL.Pgpass, &c.Log.Dir} {
		absPath(p)
	}
	for _, p := range c.securityPaths() {
		absPath(p)
	}
}

// absPath makes *p absolute against the working directory (empty stays empty).
func absPath(p *string) {
	if *p != "" && !filepath.IsAbs(*p) {
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
}
