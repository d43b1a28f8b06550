package callback

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/ha"
)

// fakePG answers the steps the decorator wraps; running follows them.
type fakePG struct {
	ha.Postgres
	running, inRecovery bool
	stops               int
}

func (f *fakePG) Observe(context.Context) ha.PGStatus {
	return ha.PGStatus{DataDir: ha.DataDirValid, Running: f.running, InRecovery: f.inRecovery}
}
func (f *fakePG) Bootstrap(context.Context) (string, error) { f.running = true; return "1", nil }
func (f *fakePG) Start(_ context.Context, follow *fsm.Member) error {
	f.running, f.inRecovery = true, follow != nil
	return nil
}
func (f *fakePG) Promote(context.Context) (uint64, error)   { f.inRecovery = false; return 0, nil }
func (f *fakePG) Demote(context.Context, *fsm.Member) error { f.inRecovery = true; return nil }
func (f *fakePG) Stop(context.Context) error                { f.running = false; f.stops++; return nil }
func (f *fakePG) Fence(context.Context) error               { f.running = false; return nil }
func (f *fakePG) Rewind(context.Context, fsm.Member) error  { f.running = false; return nil }
func (f *fakePG) MoveAside(context.Context) (string, error) { return "", nil }

// recorder wraps pg with every callback and before_stop writing to a log.
func recorder(t *testing.T, pg ha.Postgres) (*Postgres, *Runner, string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "events")
	s := script(t, `echo "$*" >> `+log)
	cbs := map[string]string{}
	for _, a := range []Action{OnStart, OnStop, OnRestart, OnReload, OnRoleChange} {
		cbs[string(a)] = s
	}
	r, err := New(Config{Scope: "demo", Callbacks: cbs, BeforeStop: script(t, `echo before_stop >> `+log)})
	if err != nil {
		t.Fatal(err)
	}
	return Wrap(pg, r), r, log
}

// A planned switchover on the old primary: the clean stop goes through the
// adapter (the loop finds it by type assertion on the decorator), with
// before_stop and on_stop primary, and the start as a standby of the
// candidate is a role change, as Patroni's graceful demotion reports it.
func TestPostgres_HandOver_OldPrimaryStartedAsStandby_ReportsARoleChange(t *testing.T) {
	f := &handOverPG{fakePG: fakePG{running: true}}
	p, r, log := recorder(t, f)
	ctx := context.Background()
	p.Observe(ctx)
	var pg ha.Postgres = p
	stopper, ok := pg.(ha.HandOverStopper)
	if !ok {
		t.Fatal("the decorator hides StopForHandOver from the HA loop")
	}
	if lsn, err := stopper.StopForHandOver(ctx); err != nil || lsn != 42 {
		t.Fatalf("StopForHandOver: %d, %v; want the adapter's 42", lsn, err)
	}
	r.Wait()
	p.Start(ctx, &fsm.Member{Name: "node2"})
	r.Wait()
	want := []string{"before_stop", "on_stop primary demo", "on_role_change replica demo"}
	if got := readLines(t, log); !reflect.DeepEqual(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
}

// A restart in place is one on_restart in its role, after before_stop, and
// neither on_stop nor on_start; a restart whose start failed emits nothing.
func TestPostgres_RestartInPlace_OnRestartInsteadOfStopAndStart(t *testing.T) {
	f := &fakePG{running: true}
	p, r, log := recorder(t, f)
	ctx := context.Background()
	p.Observe(ctx)
	p.BeginRestart()
	p.Stop(ctx)
	p.Start(ctx, nil)
	p.EndRestart(true)
	r.Wait()
	p.BeginRestart()
	p.Stop(ctx)
	p.EndRestart(false)
	r.Wait()
	want := []string{"before_stop", "on_restart primary demo", "before_stop"}
	if got := readLines(t, log); !reflect.DeepEqual(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
}

func TestPostgres_EmitsPatronisEventsFromEachStep(t *testing.T) {
	f := &fakePG{}
	p, r, log := recorder(t, f)
	ctx := context.Background()
	step := func(fn func()) { fn(); r.Wait(); p.Observe(ctx) }
	step(func() { p.Bootstrap(ctx) })
	step(func() { p.Stop(ctx) })
	step(func() { p.Start(ctx, nil) })
	step(func() { p.Stop(ctx) })
	step(func() { p.Start(ctx, &fsm.Member{Name: "node1"}) }) // was primary: a role change
	step(func() { p.Stop(ctx) })
	step(func() { p.Start(ctx, &fsm.Member{Name: "node1"}) }) // was a replica: a start
	step(func() { p.Reloaded() })
	step(func() { p.Promote(ctx) })
	step(func() { p.Demote(ctx, &fsm.Member{Name: "node2"}) })
	step(func() { p.Fence(ctx) })
	step(func() { p.Fence(ctx) }) // already stopped: no second on_stop
	step(func() { p.Stop(ctx) })  // not running: neither before_stop nor on_stop
	want := []string{
		"on_start primary demo",
		"before_stop", "on_stop primary demo",
		"on_start primary demo",
		"before_stop", "on_stop primary demo",
		"on_role_change replica demo",
		"before_stop", "on_stop replica demo",
		"on_start replica demo",
		"on_reload replica demo",
		"on_role_change primary demo",
		"on_role_change replica demo",
		"on_stop replica demo",
	}
	if got := readLines(t, log); !reflect.DeepEqual(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
	if f.stops != 4 {
		t.Fatalf("the stop must go ahead whether or not a script runs: %d stops", f.stops)
	}
}

// handOverPG also has the optional steps ha finds by type assertion.
type handOverPG struct {
	fakePG
	adopted bool
}

func (f *handOverPG) StopForHandOver(context.Context) (uint64, error) {
	f.running = false
	return 42, nil
}
func (f *handOverPG) Adopt(context.Context) error { f.adopted = true; return nil }

// A wrapped adapter keeps its optional steps: a planned switchover stops
// through it (with before_stop and on_stop) and a takeover adopts; an
// adapter without them says so instead of doing nothing.
func TestPostgres_OptionalStepsPassThrough(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "events")
	r, err := New(Config{Scope: "demo", Callbacks: map[string]string{string(OnStop): script(t, `echo "$*" >> `+log)},
		BeforeStop: script(t, `echo before_stop >> `+log)})
	if err != nil {
		t.Fatal(err)
	}
	f := &handOverPG{fakePG: fakePG{running: true}}
	var pg ha.Postgres = Wrap(f, r)
	ctx := context.Background()
	pg.Observe(ctx)
	stopper, ok := pg.(ha.HandOverStopper)
	if !ok {
		t.Fatal("the wrapper hides StopForHandOver")
	}
	if lsn, err := stopper.StopForHandOver(ctx); err != nil || lsn != 42 {
		t.Fatalf("StopForHandOver = %d, %v; want 42 from the adapter", lsn, err)
	}
	r.Wait()
	if got, want := readLines(t, log), []string{"before_stop", "on_stop primary demo"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if err := pg.(ha.Adopter).Adopt(ctx); err != nil || !f.adopted {
		t.Fatalf("Adopt = %v, adopted %v", err, f.adopted)
	}
	plain := Wrap(&fakePG{}, r)
	if _, err := plain.StopForHandOver(ctx); !errors.Is(err, errNotSupported) {
		t.Fatalf("StopForHandOver on an adapter without it = %v, want errNotSupported", err)
	}
}
