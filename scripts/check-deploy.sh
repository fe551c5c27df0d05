#!/usr/bin/env bash
# check-deploy.sh: check the operations files of ovs-flood-exporter.
#
#   scripts/check-deploy.sh                  all offline checks
#   scripts/check-deploy.sh --prometheus URL [--require-data REGEX] [--range 15m]
#                           [--var NAME=VALUE]... [--only-dashboard]
#   scripts/check-deploy.sh --skip-build     offline checks without check 6
#
# Offline checks:
#   1. promtool check rules / test rules / check config on deploy/prometheus.
#   2. Every alert has labels.severity and the annotations summary,
#      description and runbook_url, and every runbook_url anchor exists as a
#      heading in docs/runbook.md.
#   3. Every PromQL expression of the Grafana dashboard (panel targets,
#      annotation queries, variable queries) is valid: the Grafana variables
#      are replaced ($__rate_interval -> 1m, $instance and $bridge -> .*,
#      ...) and each expression is sent to a throwaway Prometheus with an
#      empty TSDB on 127.0.0.1 (this promtool has no "parse only" command);
#      any error status fails. The dashboard's structure is checked too
#      (unique panel ids, every panel and target on the ${datasource}
#      variable).
#   4. deploy/web-config.example.yml passes promtool check web-config and, with
#      a throwaway self-signed certificate, a Prometheus serving it accepts the
#      password documented in its comment and rejects a wrong one.
#   5. systemd-analyze verify finds nothing to complain about in the unit and
#      systemd-analyze security --offline=true scores it (alone and with each
#      drop-in: netns, linuxbridge) at most 2.0.
#   6. If cmd/ovs-flood-exporter exists: scripts/build.sh (make build, whose
#      binary the image copies) gives a statically linked binary; the
#      unit sets MemoryHigh, MemoryMax and TasksMax.
#
# With --prometheus URL the dashboard queries are evaluated against that
# Prometheus instead (query_range over --range, default 15m, step 15s). With
# --require-data REGEX every visible target of every panel whose title
# matches REGEX (Python re.search, case-insensitive) must return data (a
# trailing "or vector(0)" is dropped for this test), e.g.
#   --require-data 'flood'
# --var NAME=VALUE overrides a dashboard variable (default ".*" for instance
# and bridge). --only-dashboard skips checks 1, 2, 4, 5 and 6.
#
# Needs: promtool and prometheus (Debian package prometheus), python3 with
# PyYAML, openssl, curl, systemd-analyze (package systemd); go for check 6.
# Exit status: 0 all passed, 1 a check failed, 2 bad usage or missing tool.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 2; }

prom_url=""
require_data=""
range="15m"
only_dashboard=0
skip_build=0
vars=()
while [ $# -gt 0 ]; do
	case "$1" in
	--prometheus) prom_url="${2:?--prometheus needs a URL}"; shift 2 ;;
	--prometheus=*) prom_url="${1#*=}"; shift ;;
	--require-data) require_data="${2:?--require-data needs a regex}"; shift 2 ;;
	--require-data=*) require_data="${1#*=}"; shift ;;
	--range) range="${2:?--range needs a duration}"; shift 2 ;;
	--range=*) range="${1#*=}"; shift ;;
	--var) vars+=("${2:?--var needs NAME=VALUE}"); shift 2 ;;
	--var=*) vars+=("${1#*=}"); shift ;;
	--only-dashboard) only_dashboard=1; shift ;;
	--skip-build) skip_build=1; shift ;;
	-h | --help) usage ;;
	*) echo "unknown argument: $1" >&2; usage ;;
	esac
done
if [ -n "$require_data" ] && [ -z "$prom_url" ]; then
	echo "--require-data needs --prometheus: an empty throwaway TSDB has no data" >&2
	exit 2
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
rules=deploy/prometheus/ovs-flood-exporter.rules.yml
rules_test=deploy/prometheus/ovs-flood-exporter.rules.test.yml
prom_example=deploy/prometheus/prometheus.example.yml
dashboard=deploy/grafana/ovs-flood-exporter.json
web_config=deploy/web-config.example.yml
unit=deploy/systemd/ovs-flood-exporter.service
netns_dropin=deploy/systemd/ovs-flood-exporter-netns.conf
linuxbridge_dropin=deploy/systemd/ovs-flood-exporter-linuxbridge.conf
runbook=docs/runbook.md
max_exposure=2.0

need() {
	command -v "$1" >/dev/null 2>&1 || { echo "missing tool: $1 ($2)" >&2; exit 2; }
}
need python3 "python3"
# a python3 with PyYAML: the first on PATH, else Debian's (python3-yaml)
PY=python3
"$PY" -c 'import yaml' 2>/dev/null || PY=/usr/bin/python3
"$PY" -c 'import yaml' 2>/dev/null || { echo "missing python3 module yaml (apt-get install python3-yaml)" >&2; exit 2; }
if [ -z "$prom_url" ] || [ "$only_dashboard" = 0 ]; then
	need prometheus "apt-get install -y prometheus"
	need promtool "apt-get install -y prometheus"
fi
if [ "$only_dashboard" = 0 ]; then
	need openssl "apt-get install -y openssl"
	need curl "apt-get install -y curl"
	need systemd-analyze "apt-get install -y systemd"
fi

tmp="$(mktemp -d)"
prom_pids=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	for p in "${prom_pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
pass() { printf 'PASS  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; failures=$((failures + 1)); }
skip() { printf 'SKIP  %s\n' "$*"; }
# run DESCRIPTION CMD...: run CMD, show its output only when it fails.
run() {
	local desc="$1"; shift
	if "$@" >"$tmp/out" 2>&1; then
		pass "$desc"
	else
		fail "$desc"
		sed 's/^/      /' "$tmp/out"
	fi
}

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_prometheus NAME [EXTRA FLAGS...]: start a throwaway Prometheus with an
# empty TSDB on 127.0.0.1 and set prom_port. Not for $(...): the pid must be
# recorded in this shell so that cleanup stops it.
prom_port=""
start_prometheus() {
	local name="$1"; shift
	local dir="$tmp/$name"
	prom_port="$(free_port)"
	mkdir -p "$dir/data"
	printf 'global:\n  scrape_interval: 1m\n' >"$dir/prometheus.yml"
	prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$prom_port" --log.level=warn "$@" \
		>"$dir/log" 2>&1 &
	prom_pids+=("$!")
}

# wait_ready URL [CURL FLAGS...]: wait up to 30s for /-/ready.
wait_ready() {
	local url="$1"; shift
	local _
	for _ in $(seq 1 60); do
		if curl -fs -o /dev/null "$@" "$url/-/ready"; then
			return 0
		fi
		sleep 0.5
	done
	return 1
}

# ---------------------------------------------------------------- 1. rules
if [ "$only_dashboard" = 0 ]; then
	run "promtool check rules $rules" promtool check rules "$rules"
	run "promtool test rules $rules_test" promtool test rules "$rules_test"
	run "promtool check config $prom_example" promtool check config "$prom_example"

	# ------------------------------------------------ 2. alert metadata
	run "every alert has severity, summary, description and a runbook anchor" \
		"$PY" - "$rules" "$runbook" <<'EOF'
import re
import sys
import unicodedata

import yaml

rules_path, runbook_path = sys.argv[1], sys.argv[2]
prefix = "https://github.com/ovs-flood-exporter/ovs-flood-exporter/blob/main/docs/runbook.md#"


def slug(heading):
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to '-'."""
    s = heading.strip().lower()
    s = "".join(c for c in s if c in " -_" or unicodedata.category(c)[0] in "LN")
    return s.replace(" ", "-")


anchors = set()
with open(runbook_path) as f:
    in_code = False
    for line in f:
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            anchors.add(slug(m.group(1)))

errors = []
alerts = 0
with open(rules_path) as f:
    doc = yaml.safe_load(f)
for group in doc["groups"]:
    for rule in group["rules"]:
        if "alert" not in rule:
            continue
        alerts += 1
        name = rule["alert"]
        if not rule.get("labels", {}).get("severity"):
            errors.append(f"{name}: no labels.severity")
        ann = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key):
                errors.append(f"{name}: no annotations.{key}")
        url = ann.get("runbook_url", "")
        if not url.startswith(prefix):
            errors.append(f"{name}: runbook_url does not start with {prefix}")
        elif url[len(prefix):] not in anchors:
            errors.append(f"{name}: anchor #{url[len(prefix):]} is not a heading in {runbook_path}")
if alerts == 0:
    errors.append("no alerts found")
for e in errors:
    print(e)
print(f"{alerts} alerts checked")
sys.exit(1 if errors else 0)
EOF
fi

# ---------------------------------------------------------------- 3. dashboard
# Extract every expression, with Grafana's variables replaced.
if ! "$PY" - "$dashboard" "$tmp/exprs.json" "${vars[@]}" >"$tmp/extract.out" 2>&1 <<'EOF'; then
import json
import re
import sys

dash_path, out_path, overrides = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(dash_path) as f:
    dash = json.load(f)

values = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "__dashboard": "ovs-flood-exporter",
}
for v in dash.get("templating", {}).get("list", []):
    if v.get("type") == "datasource":
        values[v["name"]] = "prometheus"
    else:
        values[v["name"]] = ".*"
for o in overrides:
    name, _, val = o.partition("=")
    if not name or not _:
        sys.exit(f"--var wants NAME=VALUE, got {o!r}")
    values[name] = val

var_re = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")


def subst(expr):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        # "$1" in label_replace() and unknown names are left alone, as Grafana does.
        return values.get(name, m.group(0))
    return var_re.sub(repl, expr)


errors = []
exprs = []
ids = set()
want_ds = "${datasource}"


def check_ds(ds, where):
    if not isinstance(ds, dict) or ds.get("uid") != want_ds or ds.get("type") != "prometheus":
        errors.append(f"{where}: datasource is {ds!r}, want type prometheus uid {want_ds}")


def walk(panels):
    for p in panels:
        pid = p.get("id")
        if pid in ids:
            errors.append(f"panel id {pid} used twice")
        ids.add(pid)
        title = p.get("title", "")
        if p.get("type") == "row":
            walk(p.get("panels", []))
            continue
        check_ds(p.get("datasource"), f"panel {title!r}")
        targets = p.get("targets", [])
        if not targets:
            errors.append(f"panel {title!r}: no targets")
        for t in targets:
            check_ds(t.get("datasource"), f"panel {title!r} target {t.get('refId')}")
            if not t.get("expr", "").strip():
                errors.append(f"panel {title!r} target {t.get('refId')}: empty expr")
                continue
            exprs.append({"kind": "panel", "title": title, "ref": t.get("refId"),
                          "hide": bool(t.get("hide")), "expr": subst(t["expr"])})


if dash.get("schemaVersion", 0) < 36:
    errors.append(f"schemaVersion {dash.get('schemaVersion')} is older than 36")
walk(dash.get("panels", []))

for a in dash.get("annotations", {}).get("list", []):
    if a.get("expr"):
        check_ds(a.get("datasource"), f"annotation {a.get('name')!r}")
        exprs.append({"kind": "annotation", "title": a.get("name", ""), "ref": "",
                      "hide": False, "expr": subst(a["expr"])})

names = set()
for v in dash.get("templating", {}).get("list", []):
    names.add(v.get("name"))
    if v.get("type") != "query":
        continue
    check_ds(v.get("datasource"), f"variable {v.get('name')!r}")
    q = v.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q, re.S) or \
        re.fullmatch(r"\s*query_result\((.*)\)\s*", q, re.S)
    if m:
        exprs.append({"kind": "variable", "title": v["name"], "ref": "", "hide": False,
                      "expr": subst(m.group(1))})
    elif not re.fullmatch(r"\s*(label_names\(\)|label_values\(\w+\)|metrics\(.*\))\s*", q):
        errors.append(f"variable {v.get('name')!r}: cannot check query {q!r}")
for want in ("datasource", "instance", "bridge"):
    if want not in names:
        errors.append(f"no template variable {want!r}")

for e in exprs:
    left = re.findall(r"\$\{?(?!\d)\w+|\[\[\w+", e["expr"])
    if left:
        errors.append(f"{e['kind']} {e['title']!r} {e['ref']}: unknown variables {left} left in {e['expr']!r}")

with open(out_path, "w") as f:
    json.dump(exprs, f)
for e in errors:
    print(e)
print(f"{len(exprs)} expressions, {len(ids)} panels")
sys.exit(1 if errors else 0)
EOF
	fail "dashboard structure ($dashboard)"
	sed 's/^/      /' "$tmp/extract.out"
else
	pass "dashboard structure ($dashboard): $(tail -1 "$tmp/extract.out")"

	mode=parse
	url="$prom_url"
	if [ -z "$url" ]; then
		start_prometheus parse
		url="http://127.0.0.1:$prom_port"
		if ! wait_ready "$url"; then
			fail "throwaway Prometheus did not start"
			sed 's/^/      /' "$tmp/parse/log"
			url=""
		fi
	else
		mode=live
	fi
	if [ -n "$url" ]; then
		run "dashboard queries against $url ($mode${require_data:+, data required for panels matching /$require_data/})" \
			"$PY" - "$tmp/exprs.json" "$url" "$mode" "$require_data" "$range" <<'EOF'
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

exprs_path, url, mode, require, rng = sys.argv[1:6]
with open(exprs_path) as f:
    exprs = json.load(f)

m = re.fullmatch(r"(\d+)([smhd])", rng)
if not m:
    sys.exit(f"--range: want a duration like 15m, got {rng!r}")
seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
need = re.compile(require, re.I) if require else None


def call(expr):
    if mode == "parse":
        path, params = "/api/v1/query", {"query": expr}
    else:
        end = time.time()
        path, params = "/api/v1/query_range", {"query": expr, "start": end - seconds,
                                               "end": end, "step": 15}
    req = urllib.request.Request(url.rstrip("/") + path,
                                 data=urllib.parse.urlencode(params).encode(),
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        try:
            return json.load(e)
        except ValueError:
            return {"status": "error", "error": f"HTTP {e.code}"}
    except (urllib.error.URLError, OSError) as e:
        return {"status": "error", "error": str(e)}


bad = 0
for e in exprs:
    name = f"{e['kind']} {e['title']!r}" + (f" {e['ref']}" if e["ref"] else "")
    res = call(e["expr"])
    if res.get("status") != "success":
        bad += 1
        print(f"{name}: {res.get('errorType', '')} {res.get('error')}\n    {e['expr']}")
        continue
    if need and e["kind"] == "panel" and not e["hide"] and need.search(e["title"]):
        # A trailing "or vector(0)" (stat panels showing 0 instead of "No
        # data") would always answer; ask for the real series instead.
        bare = re.sub(r"\s+or\s+vector\(0\)\s*$", "", e["expr"])
        if bare != e["expr"]:
            res = call(bare)
        if not res.get("data", {}).get("result"):
            bad += 1
            print(f"{name}: no data over the last {rng}\n    {e['expr']}")
print(f"{len(exprs)} expressions evaluated, {bad} failed")
sys.exit(1 if bad else 0)
EOF
	fi
fi

if [ "$only_dashboard" = 1 ]; then
	echo
	[ "$failures" -eq 0 ] && { echo "all checks passed"; exit 0; }
	echo "$failures check(s) failed"; exit 1
fi

# ---------------------------------------------------------------- 4. web config
password="$(sed -n 's/.*hash below is of the password "\([^"]*\)".*/\1/p' "$web_config")"
if [ -z "$password" ]; then
	fail "$web_config: no 'hash below is of the password \"...\"' comment"
else
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
		-keyout "$tmp/tls.key" -out "$tmp/tls.crt" >/dev/null 2>&1
	sed -e "s#/etc/ovs-flood-exporter/tls.crt#$tmp/tls.crt#" \
		-e "s#/etc/ovs-flood-exporter/tls.key#$tmp/tls.key#" \
		"$web_config" >"$tmp/web-config.yml"
	run "promtool check web-config $web_config" promtool check web-config "$tmp/web-config.yml"
	start_prometheus web --web.config.file="$tmp/web-config.yml"
	wurl="https://127.0.0.1:$prom_port"
	user="$("$PY" -c 'import sys, yaml; print(next(iter(yaml.safe_load(open(sys.argv[1]))["basic_auth_users"])))' "$web_config")"
	if wait_ready "$wurl" -k -u "$user:$password"; then
		pass "$web_config: TLS and basic auth accept $user with the documented password"
		code="$(curl -s -k -o /dev/null -w '%{http_code}' -u "$user:wrong-$password" "$wurl/-/ready")"
		if [ "$code" = 401 ]; then
			pass "$web_config: a wrong password is rejected (401)"
		else
			fail "$web_config: a wrong password got HTTP $code, want 401"
		fi
	else
		fail "$web_config: a Prometheus serving it did not accept $user with the documented password"
		sed 's/^/      /' "$tmp/web/log"
	fi
fi

# ---------------------------------------------------------------- 5. systemd
mkdir -p "$tmp/units"
# verify checks the ExecStart binary exists; point it at /bin/true.
sed 's#^ExecStart=/usr/local/bin/ovs-flood-exporter#ExecStart=/bin/true#' "$unit" >"$tmp/units/ovs-flood-exporter.service"
if systemd-analyze verify "$tmp/units/ovs-flood-exporter.service" >"$tmp/verify.out" 2>&1 && [ ! -s "$tmp/verify.out" ]; then
	pass "systemd-analyze verify $unit"
else
	fail "systemd-analyze verify $unit"
	sed 's/^/      /' "$tmp/verify.out"
fi

# score UNITFILE LABEL: systemd-analyze security exposure must be <= max.
score() {
	local out level
	if ! out="$(systemd-analyze security --offline=true --no-pager "$1" 2>&1)"; then
		fail "systemd-analyze security $2"
		printf '%s\n' "$out" | sed 's/^/      /'
		return
	fi
	level="$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')"
	if [ -z "$level" ]; then
		fail "systemd-analyze security $2: no exposure level in its output"
	elif "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$level" "$max_exposure"; then
		pass "systemd-analyze security $2: exposure $level <= $max_exposure"
	else
		fail "systemd-analyze security $2: exposure $level > $max_exposure"
		printf '%s\n' "$out" | grep '✗' | sed 's/^/      /'
	fi
}
score "$unit" "$unit"
# Resource bounds: a runaway agent must not grow into the host's VMs.
for key in MemoryHigh MemoryMax TasksMax; do
	if grep -qE "^$key=[0-9]+[KMG]?$" "$unit"; then
		pass "$unit sets $(grep -E "^$key=" "$unit")"
	else
		fail "$unit has no $key= bound"
	fi
done
# with_dropin DROPIN OUT: the unit with the drop-in's [Service] settings
# appended to its [Service] section.
with_dropin() {
	"$PY" - "$unit" "$1" "$2" <<'EOF'
import sys
unit, dropin, out = sys.argv[1:4]
extra = []
in_service = False
for line in open(dropin):
    s = line.strip()
    if s.startswith("["):
        in_service = s == "[Service]"
    elif in_service and s and not s.startswith("#"):
        extra.append(s)
text = open(unit).read()
text = text.replace("\n[Install]", "\n" + "\n".join(extra) + "\n\n[Install]", 1)
open(out, "w").write(text)
EOF
}
with_dropin "$netns_dropin" "$tmp/units/ovs-flood-exporter-netns.service"
score "$tmp/units/ovs-flood-exporter-netns.service" "$unit + $netns_dropin"
with_dropin "$linuxbridge_dropin" "$tmp/units/ovs-flood-exporter-linuxbridge.service"
score "$tmp/units/ovs-flood-exporter-linuxbridge.service" "$unit + $linuxbridge_dropin"

# ---------------------------------------------------------------- 6. binary
if [ "$skip_build" = 1 ]; then
	skip "static build (--skip-build)"
elif [ -d cmd/ovs-flood-exporter ] && command -v go >/dev/null 2>&1; then
	if OUT="$tmp/ovs-flood-exporter" ./scripts/build.sh >"$tmp/build.out" 2>&1; then
		if file "$tmp/ovs-flood-exporter" | grep -q 'statically linked'; then
			pass "scripts/build.sh (make build, the image's binary) is statically linked"
		else
			fail "scripts/build.sh gives a binary that is not static: $(file -b "$tmp/ovs-flood-exporter")"
		fi
	else
		fail "scripts/build.sh"
		sed 's/^/      /' "$tmp/build.out"
	fi
else
	skip "static build: no cmd/ovs-flood-exporter (or no go) yet"
fi

echo
if [ "$failures" -eq 0 ]; then
	echo "all checks passed"
	exit 0
fi
echo "$failures check(s) failed"
exit 1
