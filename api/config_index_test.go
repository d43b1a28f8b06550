package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestConfigIfMatch_StaleIndexIsRefusedWith409AndNothingWritten(t *testing.T) {
	srv := newTestServer(t, leaderNode(), compatCluster(t)) // config at index 7
	if rec := srv.do(http.MethodGet, "/config", ""); rec.Header().Get("ETag") != `"7"` {
		t.Fatalf("GET /config ETag %q, want \"7\"", rec.Header().Get("ETag"))
	}
	send := func(method, ifMatch string) *httptest.ResponseRecorder {
		return srv.doWithHeader(method, "/config", `{"ttl": 31}`, "If-Match", ifMatch)
	}
	for _, c := range []struct {
		method, ifMatch string
		code, calls     int
	}{
		{http.MethodPatch, `"6"`, http.StatusConflict, 0},
		{http.MethodPut, `"8"`, http.StatusConflict, 0},
		{http.MethodPatch, `"x"`, http.StatusBadRequest, 0},
		{http.MethodPatch, `"7"`, http.StatusOK, 1},
		{http.MethodPut, `W/"7"`, http.StatusOK, 2},
	} {
		rec := send(c.method, c.ifMatch)
		if rec.Code != c.code || srv.writer.calls != c.calls {
			t.Fatalf("%s If-Match %s = %d (%s), writer calls %d; want %d and %d", c.method, c.ifMatch, rec.Code, rec.Body, srv.writer.calls, c.code, c.calls)
		}
		if c.code == http.StatusConflict && !strings.Contains(rec.Body.String(), "changed since it was read") {
			t.Errorf("409 body %s does not say why", rec.Body)
		}
	}
}
