package ha

// A pg_rewind that did not complete, across agent restarts (rule 4).
//
// pg_rewind rewrites the target directory file by file; one that stopped in
// the middle (its source lost, an error, the agent killed) leaves it partly
// rewritten, and PostgreSQL started on it would replay onto mixed files. The
// loop remembered that only in memory (repairs.rewindPending), so an agent
// restarted right after such a run started the directory as it was. The
// adapter now keeps a marker outside the data directory (pg_rewind deletes
// files its source lacks, and a clone or a move-aside replaces the
// directory): written, and synced, before pg_rewind runs, rewritten with the
// outcome when it fails, removed after it succeeded, and removed when the
// directory is moved aside or cloned again. Observe reports it
// (PGStatus.Rewind), and the loop treats it as its own memory:
//
//   - RewindRetry (pg_rewind lost its source: at connect nothing was
//     touched, mid-run part was): RewindPending, rewound again before any
//     start, as the agent that saw it would have done;
//   - RewindBroken (pg_rewind failed otherwise, or the marker says it was
//     still running: the agent died during it): RewindPending and
//     RewindFailed, so the directory is moved aside and cloned, as
//     PostgreSQL's documentation advises after a pg_rewind that failed.
//
// Nothing starts PostgreSQL on such a directory: the follower repairs first
// (decideRewindAgain) and a member without a leader waits (decideElection).

// RewindLeft is what the marker of an unfinished pg_rewind says.
type RewindLeft int

const (
	// RewindNone: no marker, the last pg_rewind (if any) completed.
	RewindNone RewindLeft = iota
	// RewindRetry: it lost its source; running it again repairs.
	RewindRetry
	// RewindBroken: it failed or was cut short; clone again.
	RewindBroken
)
