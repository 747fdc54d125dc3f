#!/usr/bin/env python3
"""report.py - the results of tests/bench/run.sh: JSON, RESULTS.md, the table.

    report.py RECORDS.txt RESULTS.json RESULTS.md
    report.py --long RECORDS.txt RESULTS-long.json

RECORDS.txt holds one record a line, "KIND key=value ..." (values may be
double-quoted), written by run.sh.  RESULTS.md is written anew except for
everything from the line "<!-- analysis -->" on, which is kept: the
hand-written reading of the numbers.  With --long, the RSS samples over
1,000,000 requests go to their own JSON file, which the next RESULTS.md
shows too.
"""
import json
import os
import shlex
import sys

MARK = "<!-- analysis -->"
TOKEND_ENDPOINTS = ["short", "long", "rotate", "revoke", "mixed"]


def num(v):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def read(path):
    recs = []
    with open(path) as f:
        for line in f:
            parts = shlex.split(line)
            if not parts:
                continue
            rec = {"kind": parts[0]}
            for p in parts[1:]:
                k, _, v = p.partition("=")
                rec[k] = num(v)
            recs.append(rec)
    return recs


def mib(kib_list):
    vals = [int(x) for x in str(kib_list).split(",") if x.strip().isdigit()]
    return max(vals) / 1024 if vals else None


def errors(r):
    return r.get("s4xx", 0) + r.get("s5xx", 0) + r.get("sock_errors", 0)


def fmt(v, f="{:.2f}", none="–"):
    return none if v is None else f.format(v)


def long_mode(records, out_json):
    samples = [{"served": r["served"], "rss_kib": r["rss_kib"]}
               for r in records if r["kind"] == "RSS"]
    meta = {}
    for r in records:
        if r["kind"] == "META":
            meta.update({k: v for k, v in r.items() if k != "kind"})
    with open(out_json, "w") as f:
        json.dump({"meta": meta, "rss": samples}, f, indent=1)
    print("requests served    RSS per worker (KiB)")
    for s in samples:
        print(f"{s['served']:>15}    {s['rss_kib']}")


def main():
    if sys.argv[1] == "--long":
        long_mode(read(sys.argv[2]), sys.argv[3])
        return
    records = read(sys.argv[1])
    out_json, out_md = sys.argv[2], sys.argv[3]
    meta = {}
    for r in records:
        if r["kind"] == "META":
            meta.update({k: v for k, v in r.items() if k != "kind"})
    rts = {r["name"]: r for r in records if r["kind"] == "RT"}
    rows = {r["label"]: r for r in records if r["kind"] == "ROWS"}
    sweep = [r for r in records if r["kind"] == "SWEEP" and "procs" in r]
    best = next((r["best"] for r in records if r["kind"] == "SWEEP" and "best" in r), None)
    pgb = [r for r in records if r["kind"] == "PGB"]
    pgbrows = next((r for r in records if r["kind"] == "PGBROWS"), None)
    cg = next((r for r in records if r["kind"] == "CALLGRIND"), None)
    rssflat = [r for r in records if r["kind"] == "RSSFLAT"]

    def run_of(kind, endpoint, conc, workers=None):
        for r in records:
            if r["kind"] != "RUN":
                continue
            if r.get("label", "").startswith(("warm", "ceilsweep")):
                continue
            if r.get("endpoint") != endpoint or r.get("conc") != conc:
                continue
            if kind == "tokend" and not r["label"].startswith(("short", "long", "rotate", "revoke", "mixed", "healthz", "authz")):
                continue
            if kind == "ceil_a" and not r["label"].startswith("ceila"):
                continue
            if kind == "ceil_b" and not r["label"].startswith("ceilb_"):
                continue
            if kind == "ceil_b1" and not r["label"].startswith("ceilb1_"):
                continue
            if workers is not None and r.get("workers") != workers:
                continue
            return r
        return None

    concs = sorted({r["conc"] for r in records if r["kind"] == "RUN" and r.get("label", "").startswith("short_")})
    workers_main = next((r.get("workers") for r in records if r["kind"] == "RUN" and r.get("label", "").startswith("short_")), None)
    workers_alt = sorted({r.get("workers") for r in records if r["kind"] == "RUN" and r.get("label", "").startswith(("shortw", "mixedw"))})

    def ceil_b(c):
        """(b) at concurrency c: the mean of the runs before and after tokend's."""
        runs_b = [x for x in (run_of("ceil_b1", "insert", c), run_of("ceil_b", "insert", c)) if x]
        return {"rps": sum(x["rps"] for x in runs_b) / len(runs_b)} if runs_b else None

    table = []
    def add_row(name, r, base, base_name, rt=None, rowcheck=None):
        if r is None:
            return
        ratio = r["rps"] / base["rps"] if base and base.get("rps") else None
        table.append({
            "what": name, "label": r["label"], "conc": r["conc"],
            "workers": r.get("workers") or r.get("procs"),
            "threads": r.get("threads"),
            "rps": r["rps"], "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "errors": errors(r), "s2xx": r.get("s2xx"), "exhausted": r.get("exhausted", 0),
            "rss_mib": mib(r.get("rss_kib", "")), "rss_kib": r.get("rss_kib"),
            "conns": r.get("conns"),
            "ratio": ratio, "ratio_of": base_name if ratio is not None else None,
            "xact_per_req": rt.get("xact_per_req") if rt else None,
            "calls_per_req": rt.get("calls_per_req") if rt else None,
            "rows": rowcheck,
            "cpu_us": {k[4:-3]: v for k, v in r.items() if k.startswith("cpu_")},
        })

    for ep in TOKEND_ENDPOINTS:
        for c in concs:
            r = run_of("tokend", ep, c, workers_main)
            rc = rows.get(r["label"]) if r else None
            rowcheck = None
            if rc:
                changed = {"short": "issued", "long": "issued", "rotate": "rotated",
                           "revoke": "revoked", "mixed": None}[ep]
                n = rc["issued"] + rc["rotated"] + rc["revoked"] if changed is None else rc[changed]
                rowcheck = {"2xx": rc["ok"], "changed": n, "audited": rc["audited"],
                            "run_audited": rc["run_audited"], "what": changed or "issued+revoked"}
            add_row(ep, r, ceil_b(c), "b", rts.get(ep), rowcheck)
    for ep, name in (("healthz", "healthz"), ("authorizer", "authorizer")):
        for c in concs:
            add_row(name, run_of("tokend", ep, c, workers_main), run_of("ceil_a", "fixed", c), "a",
                    rts.get(ep) if ep == "authorizer" else None)
    for w in workers_alt:
        for ep in ("short", "mixed"):
            for c in concs:
                r = next((x for x in records if x["kind"] == "RUN" and x.get("label", "").startswith(ep + "w_")
                          and x.get("conc") == c and x.get("workers") == w), None)
                rc = rows.get(r["label"]) if r else None
                rowcheck = None
                if rc:
                    n = rc["issued"] + rc["revoked"]
                    rowcheck = {"2xx": rc["ok"], "changed": n, "audited": rc["audited"],
                                "run_audited": rc["run_audited"], "what": "issued" if ep == "short" else "issued+revoked"}
                add_row(ep, r, ceil_b(c), "b", None, rowcheck)
    for c in concs:
        add_row("ceiling (a) fixed", run_of("ceil_a", "fixed", c), None, None)
    for c in concs:
        add_row("ceiling (b) insert, before tokend", run_of("ceil_b1", "insert", c), None, None)
    for c in concs:
        add_row("ceiling (b) insert, after tokend", run_of("ceil_b", "insert", c), None, None, rts.get("ceiling_b"))

    pgb_by = {(r["endpoint"], r["conc"]): r for r in pgb}

    # The targets.
    targets = []
    for ep in ("short", "long", "revoke"):
        for row in table:
            if row["what"] == ep and row["workers"] == workers_main and row["ratio"] is not None:
                targets.append({"target": f"{ep} c={row['conc']} >= 0.80 x (b)",
                                "value": round(row["ratio"], 3), "met": row["ratio"] >= 0.80})
    for row in table:
        if row["what"] in TOKEND_ENDPOINTS and row["conc"] == 16 and row["workers"] == workers_main:
            targets.append({"target": f"{row['what']} p99 < 5 ms at c=16",
                            "value": round(row["p99_ms"], 2), "met": row["p99_ms"] < 5})
    for row in table:
        if row["conc"] == 64 and not row["what"].startswith("ceiling"):
            targets.append({"target": f"{row['what']} (workers {row['workers']}) errors = 0 at c=64",
                            "value": row["errors"], "met": row["errors"] == 0})
    rss_all = [row["rss_mib"] for row in table if row["rss_mib"] is not None and not row["what"].startswith("ceiling")]
    if rss_all:
        targets.append({"target": "RSS < 10 MiB per worker", "value": round(max(rss_all), 2),
                        "met": max(rss_all) < 10})
    for name in TOKEND_ENDPOINTS + ["authorizer"]:
        rt = rts.get(name)
        if rt:
            targets.append({"target": f"{name}: xact_commit and calls per request = 1.00",
                            "value": f"{rt['xact_per_req']:.2f} / {rt['calls_per_req']:.2f}",
                            "met": round(rt["xact_per_req"], 2) == 1.00 and round(rt["calls_per_req"], 2) == 1.00})

    long_json = os.path.join(os.path.dirname(out_json), "results-long.json")
    long_data = None
    if os.path.exists(long_json):
        with open(long_json) as f:
            long_data = json.load(f)
        samples = [s for s in long_data["rss"] if s["served"] > 1000]
        if len(samples) >= 2:
            first = [int(x) for x in str(samples[0]["rss_kib"]).split(",")]
            last = [int(x) for x in str(samples[-1]["rss_kib"]).split(",")]
            growth = max(b - a for a, b in zip(first, last))
            targets.append({"target": f"RSS flat over {samples[-1]['served']:,} requests (--long): "
                                      f"largest growth of a worker from {samples[0]['served']:,} requests on",
                            "value": f"{growth} KiB", "met": growth < 1024})

    out = {
        "meta": meta, "table": table,
        "round_trips": rts, "rows": rows,
        "ceiling_b_sweep": {"points": [{"procs": r["procs"], "rps": r["rps"]} for r in sweep], "best": best},
        "pgbench": pgb, "pgbench_rows": pgbrows, "callgrind": cg, "rss_flat": rssflat,
        "targets": targets,
    }
    if long_data:
        out["rss_long"] = long_data
    with open(out_json, "w") as f:
        json.dump(out, f, indent=1)

    # ---------------------------------------------------------- the table
    head = ("| what | workers×threads | conc | req/s | p50 ms | p99 ms | errors | RSS/worker MiB | conns | ratio | xact/req | calls/req | rows changed / 2xx |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for row in table:
        wt = f"{row['workers']}×{row['threads']}" if row.get("threads") else f"{row['workers']} procs"
        rowc = row["rows"]
        rtext = "–"
        if rowc:
            rtext = f"{rowc['changed']} / {rowc['2xx']}" + ("" if rowc["changed"] == rowc["2xx"] else " MISMATCH")
        lines.append("| {} | {} | {} | {:.0f} | {:.2f} | {:.2f} | {} | {} | {} | {} | {} | {} | {} |".format(
            row["what"] + (" (ran out of tokens)" if row["exhausted"] else ""), wt, row["conc"], row["rps"],
            row["p50_ms"], row["p99_ms"], row["errors"], fmt(row["rss_mib"]), row["conns"],
            (fmt(row["ratio"]) + f" of ({row['ratio_of']})") if row["ratio"] is not None else "–",
            fmt(row["xact_per_req"]), fmt(row["calls_per_req"]), rtext))
    table_md = "\n".join(lines)
    print(table_md)

    # --------------------------------------------------------- RESULTS.md
    keep = ""
    if os.path.exists(out_md):
        with open(out_md) as f:
            text = f.read()
        if MARK in text:
            keep = text[text.index(MARK):]
    if not keep:
        keep = MARK + "\n\n## Analysis\n\n(not written yet)\n"
    md = []
    md.append("# tokend benchmark results\n")
    md.append("Written by `tests/bench/report.py` from the records of `tests/bench/run.sh` "
              "(raw: `tests/bench/results.json`); the analysis at the end is written by hand "
              "and kept across runs. A measurement, never a gate (CONTRACT §15).\n")
    md.append("## Machine and run\n")
    md.append("| | |\n|---|---|")
    for k in ("date", "host", "cpu_model", "cpus", "mem_mib", "kernel", "os", "postgres", "lighttpd",
              "wrk", "libfcgi", "openssl", "cc", "valgrind", "commit", "load_start", "load_end",
              "duration_s", "settle_s", "wrk_threads", "clients", "fill", "total_s"):
        if k in meta:
            md.append(f"| {k} | {meta[k]} |")
    md.append("")
    md.append("Setup: everything on 127.0.0.1. PostgreSQL 15 as `tests/lib/stack.sh` makes it "
              "(`fsync = on`, `synchronous_commit = on`, `full_page_writes = on`) plus "
              "`shared_preload_libraries = pg_stat_statements` (track = top), `shared_buffers = 256MB`, "
              "`max_wal_size = 4GB`, `checkpoint_timeout = 15min`. tokend: Release build "
              "(`build/bench`), under spawn-fcgi as `stack_tokend_start` runs it, "
              "`--log-level warn` (no per-request info line: with the default `info`, one log line per "
              "request is written), `--rate-limit-budget 1000000`; lighttpd 1.4 with "
              "`deploy/lighttpd/tokend-authorizer.conf` (the API under `/v1/`, `/app/` behind the "
              "authorizer; keep-alive up to 100 requests per connection, access log on). wrk with "
              f"{meta.get('wrk_threads', 2)} threads, {meta.get('duration_s', 10)} s per run; every request "
              "carries a token (or target) of its own, minted by `tests/bench/mint.c` with tokend's own "
              "`tk_token_mint` and loaded by `fill.sql` (the authorizer's read-only runs cycle over "
              "10,000 short-term tokens each). The ceilings run behind a lighttpd with the same configuration. "
              "The machine was shared with other jobs: see the load averages above and the `machine` "
              "CPU column below.\n")
    md.append("## Results\n")
    md.append("ratio: req/s over the ceiling at the same concurrency: API endpoints over (b) (the mean of "
              "its runs before and after tokend's), "
              "healthz and the authorizer over (a). xact/req: Δ`xact_commit` of `pg_stat_database` "
              "over requests served (tokend's `/v1/status`, or the ceiling's rows), read after "
              f"{meta.get('settle_s', 11)} s so that every backend has flushed its counters; calls/req: "
              "Δ`calls` of the endpoint's statement in `pg_stat_statements` (top level). Both are over "
              "the c=16 and c=64 runs of the endpoint together. rows changed / 2xx: for every 2xx "
              "answer wrk saw, the database row it claims (token issued, token rotated with a "
              "successor, revocation with reason `requested`).\n")
    md.append(table_md + "\n")

    md.append("### Where the CPU goes (µs of CPU per request, from /proc, by part)\n")
    md.append("| what | conc | server (tokend or ceiling) | postgres | lighttpd | wrk | sum | machine (all CPUs, everyone) |\n|---|---|---|---|---|---|---|---|")
    for row in table:
        c = row["cpu_us"]
        if not c:
            continue
        ours = sum(c.get(k, 0) for k in ("server", "postgres", "lighttpd", "wrk"))
        md.append(f"| {row['what']} ({row['workers']}) | {row['conc']} | {c.get('server', '–')} | {c.get('postgres', '–')} | "
                  f"{c.get('lighttpd', '–')} | {c.get('wrk', '–')} | {ours} | {c.get('machine', '–')} |")
    md.append("")
    md.append("machine: busy CPU time of the whole machine per request (other jobs included); "
              "on 2 CPUs the machine has 2,000,000 µs per second to give.\n")

    md.append("### Round trips\n")
    md.append("| group | requests | Δxact_commit | Δcalls | Δother top-level calls | xact/req | calls/req | autovacuum runs meanwhile |\n|---|---|---|---|---|---|---|---|")
    for name, rt in rts.items():
        md.append(f"| {name} | {rt['requests']} | {rt['xact']} | {rt['calls']} | {rt['other_calls']} | "
                  f"{rt['xact_per_req']:.4f} | {rt['calls_per_req']:.4f} | {rt.get('autovacuum_runs', '–')} |")
    md.append("\nAutovacuum's own transactions count in `xact_commit` as well; the warm-up before the "
              "first group opens every connection and prepares every statement on it, so PREPARE "
              "(a Parse message, one transaction each) is not counted.\n")
    md.append("")
    md.append("### Rows behind the 2xx answers\n")
    md.append("| run | 2xx seen by wrk | rows changed | with their audit row | requests of the run with audit rows (also those cut by wrk's stop) |\n|---|---|---|---|---|")
    for row in table:
        rc = row["rows"]
        if rc:
            md.append(f"| {row['label']} | {rc['2xx']} | {rc['changed']} ({rc['what']}) | {rc['audited']} | {rc['run_audited']} |")
    md.append("")
    md.append("### Ceiling (b): process sweep (concurrency 64)\n")
    md.append("| processes | req/s |\n|---|---|")
    for r in sweep:
        md.append(f"| {r['procs']} | {r['rps']:.0f} |")
    md.append(f"\nBest: {best} processes (used for (b) above).\n")
    md.append("### Ceiling (c): pgbench calling tokend's functions\n")
    md.append("`pgbench -M prepared -j 2`, one statement per transaction: the function called on a row of "
              "`bench_stage`/`bench_client` (short: random long-term token; long: random client; rotate "
              "and revoke: each target once). tokend/pgbench is tokend's req/s over pgbench's tps.\n")
    md.append("| endpoint | conc | tps | p50 ms | p99 ms | failed | tokend req/s | tokend/pgbench |\n|---|---|---|---|---|---|---|---|")
    for r in pgb:
        t = next((row for row in table if row["what"] == r["endpoint"] and row["conc"] == r["conc"]
                  and row["workers"] == workers_main), None)
        md.append(f"| {r['endpoint']} | {r['conc']} | {r['tps']:.0f} | {r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | "
                  f"{r.get('failed', 0)} | {t['rps']:.0f} | {t['rps'] / r['tps']:.2f} |" if t else
                  f"| {r['endpoint']} | {r['conc']} | {r['tps']:.0f} | {r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | {r.get('failed', 0)} | – | – |")
    if pgbrows:
        md.append(f"\npgbench's rows: {pgbrows.get('rotated')} tokens rotated, {pgbrows.get('revoked')} revoked.\n")
    md.append("### Exact cost: callgrind\n")
    if cg:
        per = cg["ir_per_request"]
        md.append("`valgrind --tool=callgrind --collect-atstart=no --toggle-collect=thread_main` on "
                  "`tokend --workers 0 --threads 1 --pool-size 1` behind lighttpd, driven one request at a "
                  "time: a fresh process for 200 short-term issuances, another for 2,200; the difference "
                  "of their totals over 2,000 is the cost of one request, without start-up, connection "
                  f"and PREPARE (failed requests: {cg.get('failed')}).\n")
        md.append(f"- **{per:,} instructions per short-term issuance** in tokend's request thread "
                  "(accept, FastCGI read, routing, JSON, token parse and mint, SHA-256, libpq, the "
                  "answer, stats; the log line is not written at `warn`)")
        if cg.get("handler_ir"):
            md.append(f"- {cg['handler_ir'] / cg['requests']:,.0f} of them inside `tk_handler_serve` "
                      f"(inclusive, mean over the {cg['requests']:,} requests of the second run)")
        md.append("\nTop functions by own instructions (`callgrind_annotate --inclusive=no`, "
                  "`tests/bench/callgrind-self.txt`; inclusive: `callgrind-inclusive.txt`):\n")
        selfp = os.path.join(os.path.dirname(out_json), "callgrind-self.txt")
        if os.path.exists(selfp):
            md.append("```")
            with open(selfp) as f:
                body = [l.rstrip() for l in f]
            # from the totals line on, the first 25 functions
            start = next((i for i, l in enumerate(body) if "file:function" in l), 0)
            md.extend(body[start:start + 27])
            md.append("```")
    else:
        md.append("Not run (`--no-callgrind` or `--quick`).")
    md.append("")
    md.append("### RSS\n")
    md.append("| when | RSS per worker (KiB) | requests served |\n|---|---|---|")
    for r in rssflat:
        md.append(f"| {r['at']} | {r['rss_kib']} | {r.get('served', '')} |")
    if long_data:
        md.append("\nOver 1,000,000 short-term issuances at c=64 (`tests/bench/run.sh --long`, a separate "
                  "run of about 13 minutes, 200,000 long-term tokens each used about 5 times; "
                  f"{long_data.get('meta', {}).get('date', '')}, load {long_data.get('meta', {}).get('load_start', '')} "
                  f"at the start, {long_data.get('meta', {}).get('load_end', '')} at the end):\n")
        md.append("| requests served | RSS per worker (KiB) |\n|---|---|")
        for s in long_data["rss"]:
            md.append(f"| {s['served']} | {s['rss_kib']} |")
    else:
        md.append("\nThe 1,000,000-request RSS check is `tests/bench/run.sh --long` (about 13 minutes "
                  "here; not part of the 10-minute run).")
    md.append("")
    md.append("### Targets\n")
    md.append("| target | value | met |\n|---|---|---|")
    for t in targets:
        md.append(f"| {t['target']} | {t['value']} | {'yes' if t['met'] else '**no**'} |")
    md.append("")
    with open(out_md, "w") as f:
        f.write("\n".join(md) + "\n" + keep)


if __name__ == "__main__":
    main()
