package agent

import (
	"reflect"
	"testing"

	"github.com/conclave-ha/conclave/adapter"
	"github.com/conclave-ha/conclave/callback"
	"github.com/conclave-ha/conclave/ha"
)

// The HA loop drives the adapter through the callback decorator and finds
// some steps by type assertion (l.pg.(ha.HandOverStopper), …). Embedding
// ha.Postgres does not carry those methods, so each optional interface the
// adapter implements must be forwarded by the decorator explicitly, or the
// step silently stops working once callbacks are wired (a planned
// switchover failed with "cannot stop for a hand-over"). Add a row for each
// new optional interface of ha.Postgres.
func TestHooks_ForwardEveryOptionalInterfaceTheAdapterImplements(t *testing.T) {
	optional := []reflect.Type{
		reflect.TypeOf((*ha.HandOverStopper)(nil)).Elem(),
		reflect.TypeOf((*ha.Adopter)(nil)).Elem(),
	}
	pg, hooks := reflect.TypeOf((*adapter.Postgres)(nil)), reflect.TypeOf((*callback.Postgres)(nil))
	for _, i := range optional {
		if !pg.Implements(i) {
			t.Errorf("the adapter no longer implements %v: drop the row or restore it", i)
		}
		if !hooks.Implements(i) {
			t.Errorf("the callback decorator hides %v from the HA loop", i)
		}
	}
}
