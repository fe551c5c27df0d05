#!/usr/bin/env bash
# lint.sh: go vet, golangci-lint at the pinned version (installed if missing;
# config .golangci.yml: gofmt/goimports, staticcheck, revive, errcheck,
# function length; depguard forbids os/exec in the agent) and a grep for
# os/exec as a second net.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
echo "== go vet"
go vet ./...
echo "== golangci-lint"
lint=$(go env GOPATH)/bin/golangci-lint
if ! "$lint" version 2>/dev/null | grep -q 'version v2\.1\.6 '; then
  go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.1.6
fi
# another checkout linting on the same machine must not fail this run
"$lint" run --allow-parallel-runners ./...
echo "== no os/exec in the agent's packages"
if grep -rln '"os/exec"' --include='*.go' cmd internal | grep -v '_test.go$' | grep -v '^internal/labtest/'; then
  echo "os/exec is forbidden in the agent: it talks to OVS over its sockets (docs/architecture.md, \"No forking\")" >&2
  exit 1
fi
