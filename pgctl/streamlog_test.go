package pgctl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiagnoseStreamLog(t *testing.T) {
	const (
		start   = "2026-11-30 19:01:57.377 UTC [1581] LOG:  starting PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu\n"
		removed = "2026-11-30 19:02:01.001 UTC [1600] FATAL:  could not receive data from WAL stream: ERROR:  requested WAL segment 000000020000000000000003 has already been removed\n"
		child   = "2026-11-30 19:02:01.001 UTC [1600] FATAL:  could not start WAL streaming: ERROR:  requested starting point 0/5000000 on timeline 1 is not in this server's history\n"
		behind  = "2026-11-30 19:02:01.001 UTC [1581] LOG:  new timeline 3 is not a child of database system timeline 2\n"
		streams = "2026-11-30 19:02:02.387 UTC [1582] LOG:  started streaming WAL from primary at 0/4000000 on timeline 2\n"
		other   = "2026-11-30 19:02:03.000 UTC [1582] FATAL:  could not connect to the primary server: connection refused\n"
		// This node's own walsender refusing a client of its own: same
		// text, other direction.
		ownWalsender = "2026-11-30 19:02:04.000 UTC [812] barman@[unknown] ERROR:  requested WAL segment 000000020000000000000010 has already been removed\n"
		ownHistory   = "2026-11-30 19:02:04.000 UTC [813] ERROR:  requested starting point 0/5000000 on timeline 1 is not in this server's history\n"
		german       = "2026-11-30 19:02:01.001 UTC [1600] FATAL:  konnte keine Daten vom WAL-Stream empfangen: FEHLER:  angefordertes WAL-Segment 000000010000000000000003 wurde schon entfernt\n"
	)
	cases := []struct {
		name, log  string
		want       StreamProblem
		wantDetail string
	}{
		{"Empty", "", StreamOK, ""},
		{"WALRemoved", start + removed + removed, StreamWALRemoved, "requested WAL segment 000000020000000000000003 has already been removed"},
		{"StartingPointNotInHistory", start + child, StreamTimeline, "requested starting point 0/5000000 on timeline 1 is not in this server's history"},
		{"NotAChild", start + behind, StreamTimeline, "new timeline 3 is not a child of database system timeline 2"},
		{"StreamedSince_IsOK", start + removed + streams, StreamOK, ""},
		{"RestartedSince_IsOK", removed + start, StreamOK, ""},
		{"TransientErrorAfterPermanent_KeepsPermanent", start + removed + other, StreamWALRemoved, "requested WAL segment 000000020000000000000003 has already been removed"},
		{"OnlyTransientErrors_IsOK", start + other, StreamOK, ""},
		{"OwnWalsenderRemovedWAL_IsOK", start + streams + ownWalsender, StreamOK, ""},
		{"OwnWalsenderUnknownStartingPoint_IsOK", start + streams + ownHistory, StreamOK, ""},
		{"OtherLanguage_IsNotDiagnosed", start + german, StreamOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, detail := diagnoseStreamLog(tc.log)
			if got != tc.want || detail != tc.wantDetail {
				t.Fatalf("diagnoseStreamLog = %v %q, want %v %q", got, detail, tc.want, tc.wantDetail)
			}
		})
	}
}

func TestDiagnoseStreaming_ReadsTheLogTail(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "pg.log")
	big := make([]byte, streamLogTail+1000)
	for i := range big {
		big[i] = 'x'
	}
	big[len(big)-1] = '\n'
	line := "2026-11-30 19:02:01.001 UTC [1600] FATAL:  could not receive data from WAL stream: ERROR:  requested WAL segment 000000020000000000000003 has already been removed\n"
	if err := os.WriteFile(log, append(big, line...), 0o600); err != nil {
		t.Fatal(err)
	}
	inst, err := New(Config{Name: "n1", DataDir: filepath.Join(dir, "data"), LogFile: log})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := inst.DiagnoseStreaming(0); got != StreamWALRemoved {
		t.Fatalf("DiagnoseStreaming = %v, want StreamWALRemoved", got)
	}
	inst2, _ := New(Config{Name: "n2", DataDir: filepath.Join(dir, "data"), LogFile: filepath.Join(dir, "missing.log")})
	if got, _ := inst2.DiagnoseStreaming(0); got != StreamOK {
		t.Fatalf("missing log: DiagnoseStreaming = %v, want StreamOK", got)
	}
}

// Lines written before the mark (taken at a start or a change of upstream)
// describe an earlier upstream and are not read.
func TestDiagnoseStreaming_ReadsOnlyLinesAfterTheMark(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "pg.log")
	removed := "2026-11-30 19:02:01.001 UTC [1600] FATAL:  could not receive data from WAL stream: ERROR:  requested WAL segment 000000020000000000000003 has already been removed\n"
	if err := os.WriteFile(log, []byte(removed), 0o600); err != nil {
		t.Fatal(err)
	}
	inst, err := New(Config{Name: "n1", DataDir: filepath.Join(dir, "data"), LogFile: log})
	if err != nil {
		t.Fatal(err)
	}
	mark := inst.LogMark()
	if got, _ := inst.DiagnoseStreaming(mark); got != StreamOK {
		t.Fatalf("only an earlier upstream's error before the mark: DiagnoseStreaming = %v, want StreamOK", got)
	}
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(removed); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got, _ := inst.DiagnoseStreaming(mark); got != StreamWALRemoved {
		t.Fatalf("error after the mark: DiagnoseStreaming = %v, want StreamWALRemoved", got)
	}
	// A rotated (shorter) log is read from its start.
	if err := os.WriteFile(log, []byte(removed[:len(removed)-1]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := inst.DiagnoseStreaming(mark + 10000); got != StreamWALRemoved {
		t.Fatalf("rotated log: DiagnoseStreaming = %v, want StreamWALRemoved", got)
	}
}

func TestTimelineForkLSN(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "pg_wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	hist := "1\t0/4002120\tno recovery target specified\n\n2\t0/5000A28\tno recovery target specified\n"
	if err := os.WriteFile(filepath.Join(dir, "pg_wal", "00000003.history"), []byte(hist), 0o600); err != nil {
		t.Fatal(err)
	}
	inst, err := New(Config{Name: "n1", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := inst.TimelineForkLSN(3); err != nil || got != 0x5000A28 {
		t.Fatalf("TimelineForkLSN(3) = %X, %v; want 5000A28", got, err)
	}
	if got, err := inst.TimelineForkLSN(1); err != nil || got != 0 {
		t.Fatalf("TimelineForkLSN(1) = %X, %v; want 0", got, err)
	}
	if _, err := inst.TimelineForkLSN(2); err == nil {
		t.Fatal("TimelineForkLSN(2) without a history file: no error")
	}
}

func TestRewind_SourceUnreachable_IsTold(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	makeValidDataDir(t, i.Config().DataDir)
	fr.do = func(c call) ([]byte, error) {
		if strings.HasSuffix(c.name, "pg_controldata") {
			return controlDataSample(t, StateShutDown), nil
		}
		return nil, errors.New(`exit status 1: pg_rewind: error: connection to server at "10.0.0.2", port 5432 failed: Connection refused`)
	}
	err := i.Rewind(ctxT(t), ConnInfo{Host: "10.0.0.2", Port: 5432})
	if !errors.Is(err, ErrSourceUnreachable) {
		t.Fatalf("Rewind = %v; want ErrSourceUnreachable", err)
	}
	fr.do = func(c call) ([]byte, error) {
		if strings.HasSuffix(c.name, "pg_controldata") {
			return controlDataSample(t, StateShutDown), nil
		}
		return nil, errors.New("exit status 1: pg_rewind: fatal: could not find common ancestor of the source and target cluster's timelines")
	}
	if err := i.Rewind(ctxT(t), ConnInfo{Host: "10.0.0.2", Port: 5432}); err == nil || errors.Is(err, ErrSourceUnreachable) {
		t.Fatalf("Rewind = %v; want a plain failure", err)
	}
}
