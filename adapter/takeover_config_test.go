package adapter

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/conclave-ha/conclave/config"
)

func TestForeignConfig_OnlyOutsideTheDataDirectory(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	if err := os.Chdir(root); err != nil {
		t.Fatal(err)
	}
	for dataDir, configFile := range map[string]string{
		"data":                           filepath.Join(data, "postgresql.conf"), // relative data_dir, as Patroni's tutorial
		link:                             filepath.Join(data, "postgresql.conf"),
		data:                             "",
		filepath.Join(root, ".", "data"): filepath.Join(data, "postgresql.conf"),
	} {
		cfg := &config.Config{}
		cfg.PostgreSQL.DataDir = dataDir
		p := &Postgres{}
		p.local.Store(cfg)
		if got := p.foreignConfig(configFile); got != "" {
			t.Errorf("data_dir %s, config_file %s: reported foreign", dataDir, configFile)
		}
	}
	cfg := &config.Config{}
	cfg.PostgreSQL.DataDir = data
	p := &Postgres{}
	p.local.Store(cfg)
	if got := p.foreignConfig("/etc/postgresql/15/main/postgresql.conf"); got != "/etc/postgresql/15/main/postgresql.conf" {
		t.Errorf("an /etc configuration not reported: %q", got)
	}
}
