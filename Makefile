# Entry points; each target calls the script that does the work, so CI and
# people run the same thing.
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: all build test test-short lint demo bench image soak check-deploy clean

all: build

build: ## the static release binary, bin/ovs-flood-exporter
	./scripts/build.sh

test: ## every test, lab tests against real OVS required (as root)
	./scripts/test.sh

test-short: ## unit tests only: no lab, no root
	go test -short ./...

lint: ## golangci-lint (installed at the pinned version if missing) and go vet
	./scripts/lint.sh

demo: ## the main job end to end: lab, flood, check, fix (as root)
	./scripts/demo.sh

bench: ## figures at the target scale (as root)
	./scripts/bench.sh

image: ## the container image from the static binary (podman)
	./scripts/image.sh

soak: ## 50 OVS restarts under a serving agent with traffic and scrapes (~12 min, as root)
	./scripts/soak.sh

check-deploy: ## alert rules, dashboard queries, systemd hardening
	./scripts/check-deploy.sh

clean:
	rm -rf bin
