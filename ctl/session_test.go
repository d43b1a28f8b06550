package ctl

import (
	"context"
	"errors"
	"net"
	"net/url"
	"testing"
)

func TestNotSent_OnlyAFailedConnectionMovesOnToAnotherMember(t *testing.T) {
	dial := &reachError{&url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}}
	read := &reachError{&url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "read", Err: errors.New("connection reset")}}}
	timeout := &reachError{&url.Error{Op: "Post", URL: "http://x", Err: context.DeadlineExceeded}}
	for err, want := range map[error]bool{dial: true, read: false, timeout: false, &apiError{Status: 412}: false, nil: false} {
		if got := notSent(err); got != want {
			t.Errorf("notSent(%v) = %v, want %v", err, got, want)
		}
	}
}
