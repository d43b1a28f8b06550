package pgctl

import (
	"os"
	"path/filepath"
	"testing"
)

// A data directory whose files cannot be read is not "no cluster": an
// error (the agent reports data_unknown) rather than DataDirInvalid, which
// published like a member without data, so another member could
// initialize over it. Tests run as root, which reads any file whatever its
// mode, so a symlink loop stands in for the permission error.
func TestDataDirState_UnreadableControlFile_IsAnErrorNotInvalid(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("global", filepath.Join(dir, "global")); err != nil {
		t.Fatal(err)
	}
	st, err := dataDirState(dir)
	if err == nil {
		t.Fatalf("state %s with no error; want an error (the files could not be read)", st)
	}

	missing := t.TempDir()
	if err := os.WriteFile(filepath.Join(missing, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := dataDirState(missing); err != nil || st != DataDirInvalid {
		t.Fatalf("directory without global/pg_control: %s, %v; want %s", st, err, DataDirInvalid)
	}
}
