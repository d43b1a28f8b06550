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
//	                  /standby-leader /standby_leader            always 503 (no standby cluster support)
//	                  /health                                    200 when PostgreSQL is running
//	                  /liveness /readiness                       status code only, empty body
//	                  /patroni /cluster /history                 always 200
//	GET|HEAD|OPTIONS  /config   PATCH /config   PUT /config
//	GET|HEAD          /metrics
//
// HEAD and OPTIONS answer with the status code and headers of GET and no
// body, as Patroni does for load balancer checks. Unknown paths get 404 and
// unsupported methods 405 with an Allow header, both with a JSON body
// {"error": "..."}. Unsafe methods (POST, PUT, PATCH, DELETE) require the
// restapi.authentication credentials when they are configured.
package api
