package adapter

import (
	"context"
	"fmt"
	"time"

	"github.com/conclave-ha/conclave/ha"
	"github.com/conclave-ha/conclave/pgctl"
)

var _ ha.HandOverStopper = (*Postgres)(nil)

// StopForHandOver stops PostgreSQL with a fast shutdown (never escalating
// to immediate: only a clean shutdown makes the walsenders send every record
// up to the shutdown checkpoint) and returns where that checkpoint record
// starts, from pg_control. It fails unless pg_control says "shut down": a
// primary that did not shut down cleanly is not handed over (ha/switchover.go).
func (p *Postgres) StopForHandOver(ctx context.Context) (uint64, error) {
	p.ops.Lock()
	defer p.ops.Unlock()
	if _, alive := p.inst.PostmasterPID(); alive {
		timeout := time.Duration(p.local.Load().PostgreSQL.PgCtlTimeout) * time.Second
		if err := p.inst.Stop(ctx, pgctl.StopOptions{Mode: pgctl.StopFast, Timeout: timeout}); err != nil {
			return 0, err
		}
	}
	cd, err := p.inst.ControlData(ctx)
	if err != nil {
		return 0, err
	}
	if cd.ClusterState != pgctl.StateShutDown {
		return 0, fmt.Errorf("PostgreSQL did not shut down cleanly (pg_control state %q)", cd.ClusterState)
	}
	return cd.CheckpointLSN, nil
}
