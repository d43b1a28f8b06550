# Conclave: the two commands a user needs are `make demo` and `make test`.
SHELL := /bin/bash
GO      ?= go
BIN     := bin/conclave
PG_BIN  ?= /usr/lib/postgresql/15/bin
export PG_BIN

.PHONY: all build demo test vet unit integration bench clean

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/conclave

# Three agents with real PostgreSQL on 127.0.0.1 under a temporary folder;
# Ctrl-C stops everything it started.
demo: build
	./scripts/demo.sh

# go vet, unit tests, then integration tests with real agents and PostgreSQL.
test: vet unit integration

vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./integration/

unit:
	$(GO) test -count=1 -race ./...

integration: build
	@$(GO) test -tags integration -count=1 -timeout 25m -v ./integration/ >integration.log 2>&1; rc=$$?; \
	grep -E '^ *(--- (PASS|FAIL|SKIP)|PASS$$|FAIL|ok )' integration.log; \
	if [ $$rc -ne 0 ]; then \
		echo "--- integration failures (whole output with agent logs: integration.log) ---"; \
		grep -E '_test.go:[0-9]+: [^[]' integration.log | tail -n 150; \
	fi; exit $$rc

# The randomized in-process fault suite (ha/nemesis_test.go) over many
# schedules and every fault kind; `make test` runs only a short sweep.
# SOAK_SCHEDULES schedules, SOAK_PARALLEL at a time; failing seeds are printed
# with the line that replays them (NEMESIS_SEED=N ...); the whole output is in
# soak.log. About 10-15 schedules a minute at SOAK_PARALLEL=4.
SOAK_SCHEDULES ?= 1000
SOAK_PARALLEL  ?= 4
.PHONY: soak
soak:
	NEMESIS_SCHEDULES=$(SOAK_SCHEDULES) NEMESIS_PARALLEL=$(SOAK_PARALLEL) \
		$(GO) test -race -count=1 -timeout 0 -v -run 'TestNemesis_' ./ha/ 2>&1 | tee soak.log | \
		grep -E '^\s*--- (FAIL|PASS)|seed [0-9]+ \(replay|seed [0-9]+: passed|^(ok|FAIL)' ; exit $${PIPESTATUS[0]}

# Figures for the README (see README "Figures").
bench: build
	./scripts/bench.sh

clean:
	rm -rf bin integration.log
