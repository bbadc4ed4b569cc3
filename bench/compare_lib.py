#!/usr/bin/env python3
"""Helpers of bench/compare (Python 3 standard library only).

Subcommands:
  gen        writes nginx.conf, the blackbox config, the agent config, the
             relay map and the target list for N loopback origins
  wait-tcp   waits (bounded) until ADDR:PORT accepts a connection
  free-port  prints a free loopback TCP port
  rusage     runs a command, writes its wall time, user+system CPU and peak RSS
  blackbox   drives a running blackbox_exporter over all targets for S seconds
  agent-db   reads the agent's probes from its database (via `originwatch query`)
  report     prints the table of all results and writes --json
"""

import argparse
import http.client
import json
import os
import platform
import re
import resource
import socket
import subprocess
import sys
import threading
import time


def origin_addr(i):
    """Loopback address of origin i (0-based): 127.1.0.1, 127.1.0.2, ..."""
    return "127.%d.%d.%d" % (1 + i // 62500, (i // 250) % 250, 1 + i % 250)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def cmd_gen(a):
    d = a.dir
    addrs = [origin_addr(i) for i in range(a.origins)]
    listens = "\n".join("    listen %s:8443 ssl;" % x for x in addrs)
    write(os.path.join(d, "nginx.conf"), """worker_processes %d;
worker_rlimit_nofile 65536;
pid %s/nginx.pid;
error_log %s/nginx-error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path %s/nginx-tmp;
  proxy_temp_path %s/nginx-tmp;
  fastcgi_temp_path %s/nginx-tmp;
  uwsgi_temp_path %s/nginx-tmp;
  scgi_temp_path %s/nginx-tmp;
  server {
%s
    server_name bench.test;
    ssl_certificate %s/chain.pem;
    ssl_certificate_key %s/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    location / { return 200 "ok\\n"; }
  }
}
""" % ((a.workers, d, d) + (d,) * 5 + (listens, d, d)))
    port = a.probe_port
    write(os.path.join(d, "targets.txt"), "".join("%s:%d\n" % (x, port) for x in addrs))
    write(os.path.join(d, "relay.map"), "".join("%s:9443 %s:8443\n" % (x, x) for x in addrs))
    write(os.path.join(d, "blackbox.yml"), """modules:
  tls:
    prober: tcp
    timeout: 10s
    tcp:
      preferred_ip_protocol: ip4
      tls: true
      tls_config:
        ca_file: %s/ca.pem
        server_name: bench.test
""" % d)
    out = ["[agent]",
           'database = "%s/originwatch.db"' % d,
           'interval = "%s"' % a.interval,
           'timeout = "10s"',
           "max_in_flight = %d" % a.max_in_flight,
           "engine_threads = %d" % a.engine_threads,
           'ca_file = "%s/ca.pem"' % d,
           'log_level = "info"']
    variants = a.variants or a.origins
    width = len(str(variants - 1))
    for i in range(variants):
        x = addrs[i % len(addrs)]
        out += ["", "[[origin]]", 'name = "o%s"' % str(i).zfill(width), 'host = "bench.test"',
                "port = %d" % port, 'connect = ["%s"]' % x]
    write(os.path.join(d, "agent.toml"), "\n".join(out) + "\n")
    return 0


def cmd_wait_tcp(a):
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((a.addr, a.port), timeout=1):
                return 0
        except OSError:
            time.sleep(0.1)
    print("compare: %s:%d did not answer within %gs" % (a.addr, a.port, a.timeout), file=sys.stderr)
    return 1


def cmd_free_port(_a):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
    return 0


def cmd_rusage(a):
    """Runs the command; its PID goes to --pidfile so the caller's trap can kill it."""
    t0 = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(a.stdout, "w") as out:
        cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        with open(a.pidfile, "a") as f:
            f.write("%d\n" % p.pid)
        # Peak RSS = the child's VmHWM, sampled until it exits: ru_maxrss of
        # the children would count the forked copy of this Python process.
        hwm = 0
        while p.poll() is None:
            try:
                hwm = max(hwm, proc_hwm_kb(p.pid))
            except OSError:
                pass
            time.sleep(0.05)
        rc = p.returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(a.out, "w") as f:
        json.dump({"rc": rc, "wall_s": time.monotonic() - t0, "cpu_s": cpu,
                   "maxrss_kb": hwm}, f)
    return 0


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]


def cmd_blackbox(a):
    targets = [t.strip() for t in open(a.targets) if t.strip()]
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "fail": 0, "http_err": 0, "durations": []}
    stop_at = time.monotonic() + a.seconds
    dur_re = re.compile(rb"^probe_duration_seconds ([0-9.eE+-]+)$", re.M)
    succ_re = re.compile(rb"^probe_success ([01])$", re.M)

    def worker():
        conn = None
        while time.monotonic() < stop_at:
            with lock:
                target = targets[state["next"] % len(targets)]
                state["next"] += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
                conn.request("GET", "/probe?module=tls&target=" + target)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                with lock:
                    state["http_err"] += 1
                continue
            s = succ_re.search(body)
            d = dur_re.search(body)
            with lock:
                if resp.status == 200 and s and s.group(1) == b"1":
                    state["ok"] += 1
                    if d:
                        state["durations"].append(float(d.group(1)) * 1000.0)
                else:
                    state["fail"] += 1
        if conn is not None:
            conn.close()

    cpu0 = proc_cpu_s(a.pid)
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(a.seconds + 40)
    wall = time.monotonic() - t0
    cpu1 = proc_cpu_s(a.pid)
    with lock:
        res = {"ok": state["ok"], "errors": state["fail"] + state["http_err"], "wall_s": wall,
               "cpu_s": cpu1 - cpu0, "maxrss_kb": proc_hwm_kb(a.pid),
               "p50_ms": percentile(state["durations"], 0.50),
               "p99_ms": percentile(state["durations"], 0.99),
               "in_flight": a.concurrency}
    with open(a.out, "w") as f:
        json.dump(res, f)
    return 0


def cmd_agent_db(a):
    sql = "SELECT ts, outcome, handshake_ms, total_ms FROM probes"
    p = subprocess.run([a.originwatch, "query", "--db", a.db, "--format", "csv", sql],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        print("compare: originwatch query failed: " + p.stderr.strip(), file=sys.stderr)
        return 1
    lines = p.stdout.splitlines()
    ok, errors, hs, events, outcomes = 0, 0, [], [], {}
    for line in lines[1:]:
        ts, outcome, handshake_ms, total_ms = (line.split(",") + ["", "", "", ""])[:4]
        if not ts:
            continue
        if outcome in ("0", "ok"):
            ok += 1
            if handshake_ms:
                hs.append(float(handshake_ms))
        else:
            errors += 1
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if total_ms:
            start = int(ts)
            events.append((start, 1))
            events.append((start + int(float(total_ms)), -1))
    # Probes in flight at once, from each probe's [ts, ts + total_ms] interval
    # (millisecond resolution; an end sorts before a start at the same ms).
    events.sort()
    cur = peak = 0
    for _, step in events:
        cur += step
        peak = max(peak, cur)
    with open(a.out, "w") as f:
        json.dump({"ok": ok, "errors": errors, "error_outcomes": outcomes,
                   "p50_ms": percentile(hs, 0.50), "p99_ms": percentile(hs, 0.99),
                   "in_flight": peak}, f)
    return 0


def machine():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def out(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"
    return {"cpu": model, "nproc": os.cpu_count(), "kernel": platform.release(),
            "openssl": out(["openssl", "version"]), "nginx": out(["/usr/sbin/nginx", "-v"]),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def cmd_report(a):
    rows = []
    for spec in a.rows:
        name, path = spec.split("=", 1)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            r = json.load(f)
        r["tool"] = name
        rows.append(r)
    for r in rows:
        r["hs_per_s"] = r["ok"] / a.seconds
        if r.get("cpu_us_per_hs") is None:
            r["cpu_us_per_hs"] = r["cpu_s"] * 1e6 / r["ok"] if r["ok"] else None
    ow = next((r for r in rows if r["tool"] == "originwatch"), None)
    for r in rows:
        if ow and ow["cpu_us_per_hs"] and r["cpu_us_per_hs"]:
            r["ow_ratio"] = ow["cpu_us_per_hs"] / r["cpu_us_per_hs"]
        else:
            r["ow_ratio"] = None
    head = ("tool", "hs/s", "CPU µs/hs", "ow/this", "p50 ms", "p99 ms", "in flight", "peak RSS MB",
            "errors")
    table = [head]
    for r in rows:
        rss = r.get("maxrss_kb")
        table.append((r["tool"], fmt(r["hs_per_s"], ".0f"), fmt(r["cpu_us_per_hs"], ".0f"),
                      fmt(r["ow_ratio"], ".2f"), fmt(r.get("p50_ms"), ".2f"),
                      fmt(r.get("p99_ms"), ".2f"), fmt(r.get("in_flight"), "d"),
                      fmt(rss / 1024 if rss else None, ".1f"), str(r.get("errors", 0))))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = []
    for n, row in enumerate(table):
        lines.append("| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                                       for i, c in enumerate(row)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":"
                                        for i, w in enumerate(widths)) + "|")
    m = machine()
    print("\n".join(lines))
    print()
    print("origins %d, %gs per tool%s, nginx workers %d; CPU = user+system of the client "
          "process / successful handshakes (reference: client SSL calls only)"
          % (a.origins, a.seconds, ", relay delay %d ms each way" % a.delay_ms if a.delay_ms else "",
             a.workers))
    for r in rows:
        if r.get("drift"):
            print("%s: start drift (actual start - due time) %s" % (r["tool"], r["drift"]))
    print("machine: %s, %s cores, kernel %s, %s, %s, %s"
          % (m["cpu"], m["nproc"], m["kernel"], m["openssl"], m["nginx"], m["date"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"origins": a.origins, "seconds": a.seconds, "delay_ms": a.delay_ms,
                       "nginx_workers": a.workers, "machine": m, "results": rows}, f, indent=2)
    if a.smoke:
        bad = [r["tool"] for r in rows if r["ok"] <= 0]
        if bad or len(rows) < a.expect_rows:
            print("compare: smoke FAILED: no successful handshakes from %s (%d of %d rows reported)"
                  % (", ".join(bad) or "-", len(rows), a.expect_rows), file=sys.stderr)
            return 1
        print("compare: smoke ok: every tool completed handshakes")
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--dir", required=True)
    g.add_argument("--origins", type=int, required=True)
    g.add_argument("--workers", type=int, default=1)
    g.add_argument("--probe-port", type=int, default=8443)
    g.add_argument("--interval", default="250ms")
    g.add_argument("--max-in-flight", type=int, default=256)
    g.add_argument("--engine-threads", type=int, default=1)
    g.add_argument("--variants", type=int, default=0)
    w = sub.add_parser("wait-tcp")
    w.add_argument("--addr", required=True)
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--timeout", type=float, default=10)
    sub.add_parser("free-port")
    r = sub.add_parser("rusage")
    r.add_argument("--out", required=True)
    r.add_argument("--stdout", required=True)
    r.add_argument("--pidfile", required=True)
    r.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    b = sub.add_parser("blackbox")
    b.add_argument("--pid", type=int, required=True)
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--targets", required=True)
    b.add_argument("--concurrency", type=int, default=64)
    b.add_argument("--seconds", type=float, required=True)
    b.add_argument("--out", required=True)
    d = sub.add_parser("agent-db")
    d.add_argument("--originwatch", required=True)
    d.add_argument("--db", required=True)
    d.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--origins", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--json")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--expect-rows", type=int, default=0)
    p.add_argument("rows", nargs="+", help="TOOL=RESULT.json, in table order")
    a = ap.parse_args(argv)
    fn = {"gen": cmd_gen, "wait-tcp": cmd_wait_tcp, "free-port": cmd_free_port,
          "rusage": cmd_rusage, "blackbox": cmd_blackbox, "agent-db": cmd_agent_db,
          "report": cmd_report}[a.cmd]
    return fn(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
