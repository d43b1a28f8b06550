package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// YAML 1.1 booleans. Patroni reads its file with PyYAML, whose YAML 1.1
// resolver turns the plain (unquoted) scalars yes/Yes/YES, no/No/NO,
// on/On/ON and off/Off/OFF into booleans, besides true/false in their three
// spellings. yaml.v3 reads YAML 1.2, where those are strings. A Patroni file
// with "synchronous_mode: on" must mean the same here, so booleans are read
// with PyYAML's rule. y/Y/n/N are strings in PyYAML too: Patroni would treat
// "nofailover: n" as a non-empty (true) string, so Conclave refuses it
// where a boolean is expected rather than guess. Quoted scalars stay strings.

// yaml11Bool reports the boolean a scalar node stands for under PyYAML's
// rules, and whether it is one.
func yaml11Bool(n *yaml.Node) (value, ok bool) {
	if n == nil || n.Kind != yaml.ScalarNode {
		return false, false
	}
	if n.Tag == "!!bool" {
		var b bool
		if n.Decode(&b) == nil {
			return b, true
		}
		return false, false
	}
	if n.Tag != "!!str" || n.Style != 0 {
		return false, false
	}
	switch n.Value {
	case "yes", "Yes", "YES", "on", "On", "ON":
		return true, true
	case "no", "No", "NO", "off", "Off", "OFF":
		return false, true
	}
	return false, false
}

// ResolveYAML11Bools rewrites, in place, every plain YAML 1.1 boolean
// scalar under n (values, not keys) into a YAML 1.2 boolean, so that
// decoding gives Go bools where PyYAML gives Python booleans.
func ResolveYAML11Bools(n *yaml.Node) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			ResolveYAML11Bools(c)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			ResolveYAML11Bools(n.Content[i])
		}
	case yaml.ScalarNode:
		if b, ok := yaml11Bool(n); ok && n.Tag != "!!bool" {
			n.Tag, n.Value = "!!bool", fmt.Sprint(b)
		}
	}
}

// UnmarshalYAML11 decodes one YAML document as PyYAML's safe_load would
// for Patroni's purposes (YAML 1.1 booleans), into plain Go values. An
// empty document gives nil.
func UnmarshalYAML11(data []byte) (any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	ResolveYAML11Bools(&doc)
	var v any
	if err := doc.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return v, nil
}
