// Package api serves Conclave's Patroni-compatible REST API and its
// Prometheus /metrics endpoint.
//
// It owns the HTTP surface only: paths, status codes, JSON field names and
// value formats, and metric names, all following Patroni (newer releases where
// they differ from 3.0.2: role "primary" instead of "master"). It decides
// nothing. It reads this node's status and the replicated state through
// Source, and changes state only through ConfigWriter, the same path the CLI
// uses; it never talks to Raft or PostgreSQL itself.
//
// It imports fsm for the state types and nothing else of ours.
//
// Endpoints:
//
//	GET|HEAD|OPTIONS  /  /primary /master /leader /read-write   200 when this node is the running primary holding the leader key
//	                  /replica                                   200 when a running replica, not noloadbalance; ?lag=, ?replication_state=, tag filters
//	                  /read-only                                 primary or replica check
//	                  /synchronous /sync, /asynchronous /async   replica check plus sync membership
//	                  /standby-leader /standby_leader            503 with the /patroni body: Conclave runs no standby clusters (Patroni's answer outside one)
//	                  /health                                    200 when PostgreSQL is running (never on a witness)
//	                  /liveness /readiness                       status code only, empty body
//	                  /patroni /cluster /history                 always 200
//	GET|HEAD|OPTIONS  /config   PATCH /config   PUT /config
//	GET|HEAD          /metrics
//	POST /switchover /failover /restart /reload /reinitialize /failsafe, DELETE /switchover /restart
//	                  operations (switchover.go, operations.go, failsafe.go), plain-text answers as Patroni's
//
// HEAD and OPTIONS answer with the status code and headers of GET and no
// body, as Patroni does for load balancer checks. Unknown paths get 404 and
// unsupported methods 405 with an Allow header, both with a JSON body
// {"error": "..."}. Every method other than GET, HEAD and OPTIONS, on every
// route, passes the one guard of guard.go first (allowlist, client
// certificate, member credential, basic auth, and by default loopback or
// member hosts only). Health checks answer from a view cached per change of
// the Source's StatusKey (cache.go); GET /config masks secrets (mask.go).
// HAMetrics (events.go) counts what the HA loop reports (it implements
// ha.Events without importing ha). A handler that panics answers 500 and
// its stack is logged at Config.TracebackLevel.
package api
