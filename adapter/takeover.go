package adapter

import (
	"path/filepath"
)

// foreignConfig returns configFile when the running server reads its
// configuration from somewhere else than the data directory's
// postgresql.conf (e.g. /etc/postgresql/15/main on Debian), else "".
// Conclave writes the data directory's files, which such a server ignores.
func (p *Postgres) foreignConfig(configFile string) string {
	if configFile == "" {
		return ""
	}
	want := filepath.Join(p.local.Load().PostgreSQL.DataDir, "postgresql.conf")
	if sameFile(configFile, want) {
		return ""
	}
	return configFile
}

// sameFile compares two paths after resolving symbolic links (either may
// not exist: then the cleaned paths are compared).
func sameFile(a, b string) bool {
	return resolved(a) == resolved(b)
}

// resolved is path made absolute (from the agent's working directory, as
// data_dir is read) with its symbolic links resolved (the file's, or its
// folder's when the file does not exist).
func resolved(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return filepath.Clean(r)
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		return filepath.Join(dir, filepath.Base(path))
	}
	return filepath.Clean(path)
}
