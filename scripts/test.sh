#!/usr/bin/env bash
# test.sh: the whole test suite on a fresh Debian machine (as root):
# unit tests, lab tests against real Open vSwitch with real traffic (never
# skipped here: OVS_FLOOD_LAB=require), and the deploy checks (alert rules,
# dashboard queries, systemd hardening).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
WITH_BROWSER=1 ./scripts/deps.sh

./scripts/lint.sh
echo "== go test (lab tests required)"
log=$(mktemp /tmp/ovs-flood-go-test.XXXXXX)
set +e
# -p 1: lab tests push real traffic through a userspace datapath; running
# packages in parallel on 2 cores makes OVS drop packets and skews counts.
OVS_FLOOD_LAB=require go test -p 1 -v -count=1 -timeout 25m ./... >"$log" 2>&1
rc=$?
set -e
if [ $rc != 0 ]; then
  # what each failed test printed comes first, so that a reader who sees
  # only the head of a long CI log still sees why it failed
  echo "== go test failed; the failed tests' own output (last 80 lines each):" >&2
  for name in $(sed -n 's/^--- FAIL: \([^ ]*\) .*/\1/p' "$log" | sort -u); do
    awk -v n="$name" '$0 == "=== RUN   " n { on = 1 } on { print } on && index($0, "--- FAIL: " n " ") == 1 { on = 0 }' "$log" | tail -n 80 >&2
  done
  grep -E -- '^(panic:|fatal error:)' -A 30 "$log" | head -n 80 >&2 || true
fi
# the full -v log is long: show the verdict lines, and everything on failure
grep -E -- '^(ok|FAIL|panic:|--- FAIL|--- SKIP|\s+--- FAIL|\s+--- SKIP)' "$log" || true
if [ $rc != 0 ]; then
  echo "== go test failed; full log follows" >&2
  cat "$log" >&2
  exit $rc
fi
if grep -E -- '^\s*--- SKIP' "$log"; then
  echo "a test was skipped; lab tests must run here (OVS_FLOOD_LAB=require)" >&2
  exit 1
fi
passed=$(grep -cE -- '^\s*--- PASS' "$log" || true)
echo "go test: $passed passed, 0 failed"
echo "== deploy checks"
./scripts/check-deploy.sh
