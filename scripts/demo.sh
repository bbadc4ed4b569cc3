#!/usr/bin/env bash
# Builds originwatch, starts the bundled demo origins (originwatch-fleet: one
# scripted TLS server per failure scenario, on loopback) and probes each of
# them, printing the diagnoses. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target originwatch originwatch-fleet

work="$(mktemp -d)"
fleet_pid=""
cleanup() {
  if [ -n "$fleet_pid" ]; then kill "$fleet_pid" 2>/dev/null || true; wait "$fleet_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The fleet listens on 127.0.0.1:9400 and up, the ports configs/demo.toml names.
./build/originwatch-fleet --base-port 9400 --ca-out "$work/fleet-ca.pem" --manifest "$work/fleet.json" \
  --duration 600 > "$work/fleet.txt" &
fleet_pid=$!
for _ in $(seq 1 100); do [ -s "$work/fleet.json" ] && break; sleep 0.1; done
[ -s "$work/fleet.json" ] || { echo "demo: the fleet did not start" >&2; exit 1; }

echo "== the demo fleet (every scenario on loopback)"
cat "$work/fleet.txt"
echo

python3 - "$work" <<'PY'
import json, subprocess, sys
work = sys.argv[1]
fleet = json.load(open(f"{work}/fleet.json"))
show_full = {"sni-required", "ecdsa-only-tls12", "plain-http"}
rows = []
for s in fleet:
    cmd = ["./build/originwatch", "probe", f"{s['host']}:{s['port']}", "--connect", s["address"],
           "--ca", f"{work}/fleet-ca.pem", "--timeout", "2s"]
    if s["name"] in show_full:
        print("== $ originwatch probe %s:%d --connect %s --ca fleet-ca.pem" % (s["host"], s["port"], s["address"]))
        out = subprocess.run(cmd, capture_output=True, text=True)
        print(out.stdout)
    res = subprocess.run(cmd + ["--json"], capture_output=True, text=True)
    doc = json.loads(res.stdout)
    lead = doc["findings"][0]
    rows.append((s["name"], s["expected_finding"], lead["code"], res.returncode, lead["summary"]))

print("== every scenario: expected diagnosis vs what originwatch found")
print("%-24s %-24s %-24s %s" % ("SCENARIO", "EXPECTED", "DIAGNOSIS", "EXIT"))
bad = 0
for name, exp, got, rc, summary in rows:
    mark = "" if exp == got else "   <-- MISMATCH"
    bad += exp != got
    print("%-24s %-24s %-24s %d%s" % (name, exp, got, rc, mark))
print()
print("%d of %d scenarios diagnosed as expected" % (len(rows) - bad, len(rows)))
sys.exit(1 if bad else 0)
PY

echo
echo "== the agent: originwatch run on configs/demo.toml for 15 seconds (interval 5s)"
cp configs/demo.toml "$work/demo.toml"
./build/originwatch check-config "$work/demo.toml"
./build/originwatch run --config "$work/demo.toml" --duration 15s 2> "$work/agent.log"
echo "agent log: $(wc -l < "$work/agent.log") lines; the last ones:"
tail -n 5 "$work/agent.log"
echo
echo "== history: probes stored per outcome"
./build/originwatch query --db "$work/demo.db" \
  "SELECT oc.name AS outcome, count(*) AS probes FROM probes p JOIN outcome_codes oc ON oc.code = p.outcome GROUP BY 1 ORDER BY 2 DESC"
echo
echo "== originwatch report failing (first rows)"
./build/originwatch report failing --db "$work/demo.db" --format csv | cut -d, -f1-8 | head -n 12
echo
echo "== originwatch report expiring 30"
./build/originwatch report expiring 30 --db "$work/demo.db"
echo
echo "== originwatch report origin sni-required"
./build/originwatch report origin sni-required --db "$work/demo.db" | head -n 8
