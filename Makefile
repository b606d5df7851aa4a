# The project's single entry point. `make up` brings the whole service up; `make test` runs every test.
# Both work as root on a fresh machine: they install missing Debian packages first.
SHELL := /bin/bash
N ?= 10000000

.PHONY: up up-ha test stop clean psql migrate status build seed-widgets bench faults help

help:           ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

up:             ## install, build, create/start PostgreSQL, migrate, start gateways (and nginx)
	@bash scripts/up.sh

up-ha:          ## the HA profile: 3 etcd + 3 PostgreSQL under Patroni, gateways and nginx (:8090) that follow the leader
	@bash scripts/up-ha.sh

test:           ## run every test (pg_prove + swift test) on a fresh test database
	@bash scripts/test.sh

stop:           ## stop every process the project started, both profiles (by pid file); keeps the data
	@bash scripts/stop.sh

clean: stop     ## stop, then remove the local data folder (.data) and both packages' build folders
	rm -rf .data .build workers/.build

psql:           ## psql on the local database as the superuser (DBA entry point)
	@source scripts/env.sh && psql "$$(admin_uri)"

migrate:        ## apply pending migrations and re-apply sql/ to the local database
	@bash scripts/migrate.sh

status:         ## applied and pending migrations of the local database
	@source scripts/env.sh && .build/release/gateway migrate status --db-uri "$$(admin_uri)"

build:          ## release builds of the gateway (root package) and the workers (workers/)
	swift build -c release --product gateway
	swift build -c release --package-path workers

seed-widgets:   ## fill the local database with N widgets (default 10 million), set-based
	@bash scripts/seed-widgets.sh $(N)

bench:          ## benchmarks: pgbench ceilings, loader vs gateway / nginx, p99 step search, 2x overload (~7 min, needs make up)
	@bash benchmarks/bench.sh

faults:         ## fault suite under load: kill a gateway, restart PostgreSQL, kill a gateway mid-allocation; HA: Patroni failover, switchover, etcd loss, rejoin, partition (~8 min, own clusters/ports/namespaces)
	@bash benchmarks/faults/run.sh
