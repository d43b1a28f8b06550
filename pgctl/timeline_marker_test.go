package pgctl

import (
	"path/filepath"
	"testing"
)

func TestTimelineMark_WrittenThenRead_RoundTrips(t *testing.T) {
	dir := t.TempDir()
	inst, err := New(Config{Name: "n1", DataDir: filepath.Join(dir, "data"), LogFile: filepath.Join(dir, "pg.log")})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := inst.ReadTimelineMark(); err != nil || m != (TimelineMark{}) {
		t.Fatalf("no marker yet: %+v, %v", m, err)
	}
	makeValidDataDir(t, inst.Config().DataDir)
	want := TimelineMark{Timeline: 2, Epoch: 30, Member: "n1"}
	if err := inst.WriteTimelineMark(want); err != nil {
		t.Fatal(err)
	}
	if m, err := inst.ReadTimelineMark(); err != nil || m != want {
		t.Fatalf("marker %+v, %v; want %+v", m, err, want)
	}
}
