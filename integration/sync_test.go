//go:build integration

package integration

// F25: the synchronous standby stops and comes back. Patroni keeps the
// standby that took over; so must we, or /sync and /async flap for load
// balancers that route by them.

import (
	"fmt"
	"testing"
	"time"
)

// syncStandby returns the member n's /cluster shows as sync_standby ("" if
// none; an error for two).
func syncStandby(n *node) (string, error) {
	cl, err := n.cluster()
	if err != nil {
		return "", err
	}
	name := ""
	for _, m := range cl.Members {
		if m.Role == "sync_standby" {
			if name != "" {
				return "", fmt.Errorf("two sync standbys: %s and %s", name, m.Name)
			}
			name = m.Name
		}
	}
	return name, nil
}

func TestSyncStandbyStopsAndReturns_TheOneThatTookOverStays(t *testing.T) {
	b := setUp(t, clusterOptions{dcs: "    synchronous_mode: true"}, nil)
	primary := b.leader
	var first string
	waitFor(t, 30*time.Second, "a recorded synchronous standby", func() error {
		var err error
		if first, err = syncStandby(primary); err == nil && first == "" {
			err = fmt.Errorf("none yet")
		}
		return err
	})
	stopped := b.c.byName(first)
	var other *node
	for _, n := range b.others(primary) {
		if n != stopped {
			other = n
		}
	}
	t.Logf("%s is the synchronous standby; stopping its agent", first)
	stopped.stop()
	waitFor(t, 30*time.Second, other.name+" recorded as the synchronous standby", func() error {
		got, err := syncStandby(primary)
		if err == nil && got != other.name {
			err = fmt.Errorf("sync standby is %q", got)
		}
		return err
	})
	since := time.Now()
	b.w.waitWritesResume(t, since, 15*time.Second)

	stopped.start()
	waitFor(t, 60*time.Second, stopped.name+" streaming again", func() error {
		// Its own API answers and the primary streams to it; its member
		// record alone could be the one it published before it stopped.
		if code, err := getJSONWith(stopped.http(), stopped.apiURL()+"/replica", nil); err != nil || code != 200 {
			return fmt.Errorf("%s /replica = %d (%v)", stopped.name, code, err)
		}
		v, err := primary.queryString(fmt.Sprintf("SELECT coalesce(max(state), '') FROM pg_stat_replication WHERE application_name = '%s'", stopped.name))
		if err == nil && v != "streaming" {
			err = fmt.Errorf("pg_stat_replication state %q", v)
		}
		return err
	})
	// What a load balancer sees: /sync on the standby that took over, /async
	// on the returning one, for a good while (several loop turns and ttls).
	holdsFor(t, 8*time.Second, other.name+" stays the synchronous standby", func() error {
		if got, err := syncStandby(primary); err != nil || got != other.name {
			return fmt.Errorf("sync standby is %q (%v)", got, err)
		}
		if code, err := getJSONWith(other.http(), other.apiURL()+"/sync", nil); err != nil || code != 200 {
			return fmt.Errorf("%s /sync = %d (%v)", other.name, code, err)
		}
		if code, err := getJSONWith(stopped.http(), stopped.apiURL()+"/async", nil); err != nil || code != 200 {
			return fmt.Errorf("%s /async = %d (%v)", stopped.name, code, err)
		}
		return nil
	})
	b.finish(noLoss)
}
