package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/conclave-ha/conclave/dynconfig"
	"github.com/conclave-ha/conclave/fsm"
)

// getConfig answers the dynamic configuration as stored, {} when unset,
// with secrets masked (mask.go).
func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) error {
	st := s.freshCluster(r.Context())
	w.Header().Set("ETag", configETag(st.ConfigIndex))
	writeJSON(w, http.StatusOK, maskConfig(st.Config))
	return nil
}

// patchConfig merges the body onto the current configuration with Patroni's
// semantics (nested maps merge, null deletes a key) and writes the result.
func (s *Server) patchConfig(w http.ResponseWriter, r *http.Request) error {
	return s.writeConfig(w, r, true)
}

// putConfig replaces the whole configuration with the body. A null value
// means the key is absent.
func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) error {
	return s.writeConfig(w, r, false)
}

func (s *Server) writeConfig(w http.ResponseWriter, r *http.Request, merge bool) error {
	if s.cfg.Config == nil {
		return errNoConfigWriter
	}
	body, err := readJSONObject(r)
	if err != nil {
		return err
	}
	st := s.freshCluster(r.Context())
	if err := checkIfMatch(r, st.ConfigIndex); err != nil {
		return err
	}
	if err := unmaskBody(body, st.Config); err != nil {
		return err
	}
	base := map[string]any(nil)
	if merge {
		base = st.Config
	}
	next := fsm.MergeDynamicPatch(base, body)
	if err := fsm.ValidateDynamicConfig(next); err != nil {
		return fmt.Errorf("%w: %w", fsm.ErrInvalidConfig, err)
	}
	if err := s.cfg.Config.SetConfig(r.Context(), next, st.ConfigIndex); err != nil {
		return fmt.Errorf("set config: %w", err)
	}
	s.logger.Info("dynamic configuration changed", "index", st.ConfigIndex, "method", r.Method)
	if unused := dynconfig.NotActedOnIn(next); len(unused) > 0 {
		// Stored as Patroni stores them, but nothing happens: say so
		// without changing Patroni's answer body.
		w.Header().Set("Warning", notActedWarning(unused))
		s.logger.Warn("dynamic configuration keys accepted but not acted on", "keys", strings.Join(unused, "; "))
	}
	writeJSON(w, http.StatusOK, maskConfig(next))
	return nil
}

// notActedWarning is an HTTP Warning header (RFC 7234, code 299) naming the
// keys stored but not acted on.
func notActedWarning(unused []string) string {
	return `299 conclave "accepted but not acted on: ` + strings.Join(unused, "; ") + `"`
}

// readJSONObject reads a request body that must be one JSON object. Numbers
// stay json.Number so large integers keep every digit.
func readJSONObject(r *http.Request) (map[string]any, error) {
	if r.Body == nil {
		return nil, fmt.Errorf("%w: empty body: send a JSON object", errBadRequest)
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, fmt.Errorf("request body larger than %d bytes: %w", tooLarge.Limit, err)
		}
		return nil, fmt.Errorf("%w: read body: %w", errBadRequest, err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("%w: empty body: send a JSON object", errBadRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: malformed JSON: %v", errBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: malformed JSON: data after the object", errBadRequest)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: body must be a JSON object, got %s", errBadRequest, jsonKind(v))
	}
	return obj, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
