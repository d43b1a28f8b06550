package adapter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
)

// The running primary taken over gets Conclave's configuration by a reload:
// its own postgresql.conf becomes the included base file and its pg_hba.conf
// stays (the configuration sets no pg_hba). No start, stop or restart.
func TestAdopt_RunningPrimary_ReloadsKeepingTheUsersFiles(t *testing.T) {
	r := &fakeRunner{started: make(chan string, 16)}
	p, cfg := newTestAdapter(t, r)
	dir := cfg.PostgreSQL.DataDir
	userConf, userHBA := "custom.marker = 'kept'\n", "host all all 10.0.0.0/8 md5\n"
	for name, body := range map[string]string{"postgresql.conf": userConf, "pg_hba.conf": userHBA} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Adopt(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(r.started)
	var ran []string
	for what := range r.started {
		ran = append(ran, what)
	}
	if strings.Join(ran, ",") != "pg_ctl reload" {
		t.Fatalf("ran %v, want only a reload", ran)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "postgresql.base.conf")); string(b) != userConf {
		t.Fatalf("base file %q", b)
	}
	if conf := readConf(t, p); !strings.Contains(conf, "include 'postgresql.base.conf'") {
		t.Fatalf("postgresql.conf:\n%s", conf)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "pg_hba.conf")); string(b) != userHBA {
		t.Fatalf("pg_hba.conf replaced: %q", b)
	}
}

// pg_hba lines the file sets (local or dynamic) are written; bootstrap's
// and the built-in ones are only a fallback that keeps a user's file.
func TestServerConfig_PgHBA_FallbackKeepsTheUsersFile(t *testing.T) {
	dyn := fsm.DefaultDynamicConfig()
	p := &Postgres{dynamic: func() fsm.DynamicConfig { return dyn }}
	cfg := &config.Config{}
	cfg.Bootstrap.PgHBA = []string{"host all all all md5"}
	if sc := p.serverConfig(cfg, nil); !sc.KeepUserHBA || len(sc.PgHBA) != 1 {
		t.Fatalf("bootstrap pg_hba: keep %v lines %v", sc.KeepUserHBA, sc.PgHBA)
	}
	dyn.PgHBA = []string{"host all all 10.0.0.0/8 md5"}
	if sc := p.serverConfig(cfg, nil); sc.KeepUserHBA {
		t.Fatal("dynamic postgresql.pg_hba treated as a fallback")
	}
	dyn.PgHBA = nil
	cfg.PostgreSQL.PgHBA = []string{"host all all 10.0.0.0/8 md5"}
	if sc := p.serverConfig(cfg, nil); sc.KeepUserHBA {
		t.Fatal("local postgresql.pg_hba treated as a fallback")
	}
}

// A data directory being taken over is written only by the loop's own steps
// (Adopt, Follow): a change of the dynamic or local configuration before
// that writes and reloads nothing, so a member refused meanwhile (two
// primaries of one system) is left exactly as its owner made it.
func TestApplyDynamic_DataDirNotAdoptedYet_WritesNothing(t *testing.T) {
	r := &fakeRunner{started: make(chan string, 16)}
	p, cfg := newTestAdapter(t, r)
	dir := cfg.PostgreSQL.DataDir
	userConf := "custom.marker = 'kept'\n"
	if err := os.WriteFile(filepath.Join(dir, "postgresql.conf"), []byte(userConf), 0o600); err != nil {
		t.Fatal(err)
	}
	p.adoptSyncNames(nil, false) // the primary's names were read
	if _, err := p.ApplyDynamic(context.Background()); !errors.Is(err, ErrNotAdopted) {
		t.Fatalf("ApplyDynamic on a directory not adopted yet: %v, want ErrNotAdopted", err)
	}
	p.SetLocalConfig(testConfig(dir, "8MB"))
	close(r.started)
	for what := range r.started {
		t.Errorf("ran %s before the directory was adopted", what)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "postgresql.conf")); string(b) != userConf {
		t.Fatalf("postgresql.conf rewritten: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "postgresql.base.conf")); err == nil {
		t.Fatal("postgresql.base.conf created")
	}
}
