package fsm

// ScheduledRestart is a restart waiting on a member (POST /restart with a
// "schedule"), published in its member record as Patroni's
// scheduled_restart so every node (list -e, /cluster) shows it. The member's
// own agent fires it at Schedule and removes it; DELETE /restart cancels it.
type ScheduledRestart struct {
	Schedule        string `json:"schedule"` // RFC 3339
	PostgresVersion string `json:"postgres_version,omitempty"`
	Role            string `json:"role,omitempty"`
	RestartPending  bool   `json:"restart_pending,omitempty"`
}
