package logfile

import (
	"bytes"
	"encoding/json"
	"io"
	"sort"
)

// hclog's JSON keys and the names log shippers expect (Fluent Bit's and
// Vector's JSON parsers take any object; these names need no remapping in
// the usual pipelines).
var shippingKeys = []struct{ from, to string }{
	{"@timestamp", "time"},
	{"@level", "level"},
	{"@module", "logger"},
	{"@message", "message"},
}

// ShippingJSON wraps w: each JSON log line hclog writes (one line per Write)
// is rewritten as one JSON object with time, level, logger and message
// first, then the line's fields sorted by key. A write that is not one JSON
// object passes through unchanged.
func ShippingJSON(w io.Writer) io.Writer { return shippingJSON{w} }

type shippingJSON struct{ w io.Writer }

func (s shippingJSON) Write(p []byte) (int, error) {
	out, ok := reshape(p)
	if !ok {
		return s.w.Write(p)
	}
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func reshape(p []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || dec.More() {
		return nil, false
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	put := func(k string, v any) bool {
		kb, err1 := json.Marshal(k)
		vb, err2 := marshal(v)
		if err1 != nil || err2 != nil {
			return false
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
		return true
	}
	for _, k := range shippingKeys {
		if v, ok := m[k.from]; ok {
			if !put(k.to, v) {
				return nil, false
			}
			delete(m, k.from)
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := k
		for _, sk := range shippingKeys {
			if k == sk.to { // a field named like a fixed key must not shadow it
				name = "field." + k
			}
		}
		if !put(name, m[k]) {
			return nil, false
		}
	}
	buf.WriteString("}\n")
	return buf.Bytes(), true
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
