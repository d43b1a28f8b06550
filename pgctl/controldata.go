package pgctl

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Cluster states as pg_controldata prints them (LC_ALL=C).
const (
	StateInProduction       = "in production"
	StateShutDown           = "shut down"
	StateShutDownInRecovery = "shut down in recovery"
	StateShuttingDown       = "shutting down"
	StateInCrashRecovery    = "in crash recovery"
	StateInArchiveRecovery  = "in archive recovery"
	StateStartingUp         = "starting up"
)

// ControlData is the part of pg_controldata's output pgctl understands.
type ControlData struct {
	SystemID               string // "Database system identifier"
	ClusterState           string // "Database cluster state", one of the State* constants
	Timeline               int    // "Latest checkpoint's TimeLineID"
	CheckpointLSN          uint64 // "Latest checkpoint location"
	MinRecoveryEndLSN      uint64 // "Minimum recovery ending location"
	MinRecoveryEndTimeline int    // "Min recovery ending loc's timeline"
	WALLogHints            bool   // "wal_log_hints setting"
	DataChecksums          bool   // "Data page checksum version" > 0
	Raw                    map[string]string
}

// CleanShutdown reports whether the cluster was shut down cleanly, which
// pg_rewind requires of its target.
func (c ControlData) CleanShutdown() bool {
	return c.ClusterState == StateShutDown || c.ClusterState == StateShutDownInRecovery
}

// ControlData runs pg_controldata on DataDir (no server needed).
func (i *Instance) ControlData(ctx context.Context) (ControlData, error) {
	out, _, err := i.cfg.Runner.Run(ctx, []string{"LC_ALL=C"}, i.bin("pg_controldata"), "-D", i.cfg.DataDir)
	if err != nil {
		return ControlData{}, fmt.Errorf("control data %s: pg_controldata: %w", i.cfg.DataDir, err)
	}
	cd, err := parseControlData(out)
	if err != nil {
		return ControlData{}, fmt.Errorf("control data %s: %w", i.cfg.DataDir, err)
	}
	return cd, nil
}

func parseControlData(out []byte) (ControlData, error) {
	cd := ControlData{Raw: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		cd.Raw[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	var err error
	get := func(key string) string {
		v, ok := cd.Raw[key]
		if !ok && err == nil {
			err = fmt.Errorf("pg_controldata output lacks %q", key)
		}
		return v
	}
	atoi := func(key string) int {
		s := get(key)
		n, e := strconv.Atoi(s)
		if e != nil && err == nil {
			err = fmt.Errorf("pg_controldata %q: %w", key, e)
		}
		return n
	}
	lsn := func(key string) uint64 {
		s := get(key)
		n, e := ParseLSN(s)
		if e != nil && err == nil {
			err = fmt.Errorf("pg_controldata %q: %w", key, e)
		}
		return n
	}
	cd.SystemID = get("Database system identifier")
	cd.ClusterState = get("Database cluster state")
	cd.Timeline = atoi("Latest checkpoint's TimeLineID")
	cd.CheckpointLSN = lsn("Latest checkpoint location")
	cd.MinRecoveryEndLSN = lsn("Minimum recovery ending location")
	cd.MinRecoveryEndTimeline = atoi("Min recovery ending loc's timeline")
	cd.WALLogHints = get("wal_log_hints setting") == "on"
	cd.DataChecksums = atoi("Data page checksum version") > 0
	return cd, err
}
