package adapter

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/conclave-ha/conclave/dynconfig"
	"github.com/conclave-ha/conclave/pgctl"
)

// ApplyDynamic rewrites the configuration files from the current local and
// dynamic configuration and reloads PostgreSQL when they changed: the agent
// calls it whenever the stored dynamic configuration changes (PATCH /config,
// edit-config), so reload-level parameters take effect within a loop turn.
// Parameters that need a restart are written too; PostgreSQL then reports
// them in pg_settings.pending_restart, which the next observation publishes
// as the member's pending restart (/patroni, list -e, patroni_pending_restart).
// Nothing is written while PostgreSQL is down: the next start writes the
// files anyway. It waits for an operation in progress (ops).
func (p *Postgres) ApplyDynamic(ctx context.Context) (changed bool, err error) {
	p.ops.Lock()
	defer p.ops.Unlock()
	if _, alive := p.inst.PostmasterPID(); !alive {
		return false, nil
	}
	if !p.inst.ConfigManaged() {
		// A running server not taken over yet (or refused, as a second
		// primary of the system): its files are the user's until the
		// takeover adopts them, and a refused one stays untouched.
		return false, ErrNotAdopted
	}
	p.mu.Lock()
	follow, syncKnown := p.followed, p.syncKnown
	p.mu.Unlock()
	if follow == nil && p.inst.HasStandbySignal() {
		// A standby this agent has not configured yet (it just started and
		// adopted a running PostgreSQL): written now, the files would say
		// primary (no standby.signal, no primary_conninfo). The loop's first
		// Follow writes them with the current values; the caller retries.
		return false, ErrRoleUnknown
	}
	if follow == nil && !syncKnown {
		// A primary whose synchronous_standby_names this agent has not read
		// yet: written now it would be emptied and commits would stop
		// waiting for the recorded standbys (rule 2). The next observation
		// adopts it (adoptSyncNames); the caller retries.
		return false, ErrRoleUnknown
	}
	changed, err = p.writeConfig(follow)
	if err != nil || !changed {
		return changed, err
	}
	return true, p.inst.Reload(ctx)
}

// ErrNotAdopted (ApplyDynamic): the running server's configuration is still
// the user's (a takeover has not adopted it).
var ErrNotAdopted = errors.New("the running server is not taken over yet; configuration written when it is adopted")

// ErrRoleUnknown (ApplyDynamic): the adapter does not know yet whom the running standby follows.
var ErrRoleUnknown = errors.New("the running standby's upstream is not known yet; configuration written at its next follow")

// controlDataParams are the settings a standby needs at least as high as
// its primary had them, or it refuses to start or pauses recovery
// ("insufficient parameter settings"). pg_controldata records the values
// the primary last wrote to WAL; as Patroni does, a standby keeps these as
// a floor, so a lowered max_connections applies to the primary at its next
// restart and reaches the standbys through WAL, never stopping them.
var controlDataParams = map[string]string{
	"max_connections":           "max_connections setting",
	"max_worker_processes":      "max_worker_processes setting",
	"max_wal_senders":           "max_wal_senders setting",
	"max_prepared_transactions": "max_prepared_xacts setting",
	"max_locks_per_transaction": "max_locks_per_xact setting",
}

// raiseToControlData lifts params below the values pg_controldata records
// (standbys only). Values it cannot read are left as they are.
func raiseToControlData(params map[string]any, cd pgctl.ControlData) {
	for name, key := range controlDataParams {
		floor, err := strconv.Atoi(cd.Raw[key])
		if err != nil {
			continue
		}
		if v, set := params[name]; set {
			if n, ok := intParam(v); !ok || n >= floor {
				continue
			}
		} else if floor <= defaultParam[name] {
			continue
		}
		params[name] = floor
	}
}

// defaultParam is PostgreSQL 15's default for each controlDataParams
// setting: an unset one is raised only when the primary had more.
var defaultParam = map[string]int{
	"max_connections": 100, "max_worker_processes": 8, "max_wal_senders": 10,
	"max_prepared_transactions": 0, "max_locks_per_transaction": 64,
}

func intParam(v any) (int, bool) {
	n, ok := dynconfig.ParameterInt(v)
	return int(n), ok
}

// standbyFloor applies raiseToControlData with the data directory's
// pg_controldata; without it (no data directory yet) params stay as they are.
func (p *Postgres) standbyFloor(params map[string]any) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cd, err := p.inst.ControlData(ctx)
	if err != nil {
		return
	}
	raiseToControlData(params, cd)
}

// clusterWideParams must be the same on every member (a standby needs at
// least its primary's values, WAL must carry what replicas need): as in
// Patroni, a value in the dynamic configuration wins over the node's own
// file for them; every other parameter of the file wins over the dynamic one.
var clusterWideParams = map[string]bool{
	"max_connections": true, "max_locks_per_transaction": true, "max_worker_processes": true,
	"max_prepared_transactions": true, "wal_level": true, "track_commit_timestamp": true,
	"max_wal_senders": true, "max_replication_slots": true, "wal_keep_segments": true, "wal_keep_size": true,
}
