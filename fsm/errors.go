package fsm

import (
	"errors"
	"fmt"
)

// Rejections: well-formed commands that Apply refuses. Each has a stable code
// so a rejection forwarded from another node keeps its identity.
var (
	ErrInitializeHeld   = errors.New("initialize key held by another member")
	ErrSystemIDMismatch = errors.New("system identifier differs from the cluster's")
	ErrLeaderChanged    = errors.New("leader key changed since it was read")
	ErrNotLeaderHolder  = errors.New("not the holder of the leader key")
	ErrConfigConflict   = errors.New("dynamic configuration changed since it was read")
	ErrInvalidConfig    = errors.New("invalid dynamic configuration")
	ErrInvalidCommand   = errors.New("invalid command")
	ErrNotSyncStandby   = errors.New("not a recorded synchronous standby")
	ErrUnknownCommand   = errors.New("unknown command type")
	ErrSyncChanged      = errors.New("synchronous standby set changed since it was read")
	ErrMemberChanged    = errors.New("member reported since it was read")
)

var errorCodes = map[string]error{
	"initialize_held":    ErrInitializeHeld,
	"system_id_mismatch": ErrSystemIDMismatch,
	"leader_changed":     ErrLeaderChanged,
	"not_leader_holder":  ErrNotLeaderHolder,
	"config_conflict":    ErrConfigConflict,
	"invalid_config":     ErrInvalidConfig,
	"invalid_command":    ErrInvalidCommand,
	"not_sync_standby":   ErrNotSyncStandby,
	"unknown_command":    ErrUnknownCommand,
	"sync_changed":       ErrSyncChanged,
	"member_changed":     ErrMemberChanged,
}

// ErrorCode returns the stable code of a rejection, "" for other errors.
func ErrorCode(err error) string {
	for code, sentinel := range errorCodes {
		if errors.Is(err, sentinel) {
			return code
		}
	}
	return ""
}

// ErrorFromCode rebuilds a rejection received from another node so that
// errors.Is works on it. An unknown code gives a plain error.
func ErrorFromCode(code, msg string) error {
	if sentinel, ok := errorCodes[code]; ok {
		if msg == sentinel.Error() {
			return sentinel
		}
		return fmt.Errorf("%w: %s", sentinel, trimPrefix(msg, sentinel.Error()+": "))
	}
	return errors.New(msg)
}

func trimPrefix(s, prefix string) string {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):]
	}
	return s
}

func reject(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
