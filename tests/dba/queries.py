#!/usr/bin/python3
"""queries.py - run the DBA's queries of sql/README.md and check them.

    queries.py --super DSN --auditor DSN [--readme sql/README.md]
               [--plans] [--scale] [--print-plans]

Each query marked "<!-- query: NAME -->" in the README runs as the
auditor role, with psql's :'client', :'token' and :'family' bound to the
needles of tests/dba/needles.sql, and its rows are checked against the
answers the needles were made for.  --scale also asks about the largest
client and compares with the same answer computed another way (as the
superuser).  --plans runs EXPLAIN (ANALYZE, FORMAT JSON) of every query
and fails on a sequential scan of tokens, or of a partition of
token_events holding more than 10,000 rows (reltuples, after ANALYZE).
--print-plans prints the plans for the README instead of checking.

Prints "ok N - ..." / "not ok N - ..." lines and "N passed, N failed".
"""
import argparse
import json
import re
import sys
import time

import psycopg2

SEQ_SCAN_LIMIT = 10000


def needle(suffix):
    return "db000000-0000-4000-8000-0000000000" + suffix


N = {k: needle(k) for k in ["c1", "c2"] + ["%02d" % i for i in range(1, 13)]
     + [str(i) for i in range(51, 57)]}


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, *diag):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc))
            for d in diag:
                for line in str(d).splitlines():
                    print("#   " + line)
        sys.stdout.flush()
        return cond

    def is_(self, got, want, desc):
        return self.ok(got == want, desc, "got:  %r" % (got,), "want: %r" % (want,))


def read_queries(path):
    text = open(path, encoding="utf-8").read()
    found = re.findall(r"<!-- query: (\w+) -->\s*```sql\n(.*?)```", text, re.S)
    queries = {}
    for name, sql in found:
        if "%" in sql:
            raise SystemExit("query %s holds a %%: not supported" % name)
        queries[name] = re.sub(r":'(\w+)'", r"%(\1)s", sql.strip().rstrip(";"))
    return queries


def rows(conn, sql, params):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def scalar(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def s(v):
    return None if v is None else str(v)


def check_answers(tap, aud, sup, q, scale):
    """The needles' answers, then (scale) the largest client's."""
    r = rows(aud, q["q1"], {"client": N["c1"]})
    tap.is_(sorted(s(x["token_id"]) for x in r),
            sorted(N[k] for k in ["03", "04", "10", "53", "55"]),
            "q1: the live tokens of needle-client, and no other")
    tap.is_([x["label"] or x["audience"] for x in r if s(x["token_id"]) == N["03"]],
            ["needle-holder-a"], "q1: a long-term token's holder")

    r = rows(aud, q["q2"], {"token": N["53"]})
    tap.is_([(x["kind"], s(x["from_token_id"]), s(x["family_id"]), x["generation"],
              s(x["issued_from"]), x["issued_request_id"], x["state"]) for x in r],
            [("short", N["03"], N["01"], 2, "203.0.113.10", "needle-req-53", "valid")],
            "q2: a short-term token: its long-term token, family, issuing request")
    r = rows(aud, q["q2"], {"token": N["10"]})
    tap.is_([(x["kind"], s(x["from_token_id"]), s(x["family_id"]), x["generation"],
              x["state"]) for x in r],
            [("long", N["08"], N["08"], 1, "valid")],
            "q2: a successor: the token it was rotated from")
    r = rows(aud, q["q2_family"], {"family": N["01"]})
    tap.is_([(x["generation"], x["kind"], s(x["token_id"]), x["state"]) for x in r],
            [(0, "long", N["01"], "rotated"), (0, "short", N["51"], "expired"),
             (1, "long", N["02"], "rotated"), (1, "short", N["52"], "expired"),
             (2, "long", N["03"], "valid"), (2, "short", N["53"], "valid"),
             (2, "short", N["54"], "revoked")],
            "q2_family: every rotation and the short-term tokens of each")

    def q3(token):
        return [(s(x["token_id"]), x["reason"], s(x["revoked_by"]), x["revoked_by_kind"],
                 x["revoked_via"], x["request_id"], s(x["remote_addr"]))
                for x in rows(aud, q["q3"], {"token": token})]
    tap.is_(q3(N["54"]), [(N["54"], "requested", N["54"], "short", "tokend",
                           "needle-req-revoke", "203.0.113.77")],
            "q3: revoked by itself, through tokend, from its address")
    tap.is_(q3(N["56"]), [(N["05"], "requested", None, None, "tokenctl", None, None)],
            "q3: a short-term token whose long-term token tokenctl revoked")
    tap.is_(q3(N["09"]), [(N["09"], "superseded", None, None, "tokend",
                           "needle-req-10", "203.0.113.88")],
            "q3: superseded by a second rotation")
    tap.is_(q3(N["07"]), [(N["07"], "reuse_detected", None, None, "tokend",
                           "needle-req-reuse", "198.51.100.9")],
            "q3: revoked on reuse, from the address that reused")
    tap.is_(q3(N["53"]), [], "q3: a valid token has no revocation")

    r = rows(aud, q["q4"], {})
    tap.ok(any(s(x["reused_token_id"]) == N["06"] and s(x["remote_addr"]) == "198.51.100.9"
               and x["request_id"] == "needle-req-reuse" for x in r),
           "q4: the reuse of two days ago")
    tap.ok(not any(s(x["reused_token_id"]) == N["11"] for x in r),
           "q4: not the reuse of twenty days ago")
    tap.is_(len(r), scalar(sup, "SELECT count(DISTINCT request_id) FROM revocations"
                           " WHERE reason = 'reuse_detected'"
                           " AND revoked_at > now() - interval '7 days'"),
            "q4: one row per reuse revoking a family in the last 7 days")

    r = rows(aud, q["q5_addresses"], {})
    tap.is_([(s(x["remote_addr"]), x["failures"]) for x in r[:2]],
            [("192.0.2.250", 5000000), ("192.0.2.251", 3000000)],
            "q5_addresses: the addresses failing most this week, summed")
    tap.ok(len(r) == 10 and not any(s(x["remote_addr"]) == "192.0.2.252" for x in r),
           "q5_addresses: ten rows, not last month's", r[:3])
    r = rows(aud, q["q5_clients"], {})
    tap.is_([(s(x["client_id"]), x["client_name"], x["failures"], x["addresses"])
             for x in r[:1]],
            [(N["c2"], "needle-attacked", 3000000, 1)],
            "q5_clients: the client failing most this week")

    r = rows(aud, q["q6"], {"client": N["c1"]})
    tot = {k: sum(x[k] for x in r) for k in
           ["issued_long", "issued_short", "rotated", "revoked", "superseded",
            "reuse_detected", "failures"]}
    tap.is_(tot, {"issued_long": 3, "issued_short": 5, "rotated": 6, "revoked": 2,
                  "superseded": 1, "reuse_detected": 2, "failures": 0},
            "q6: needle-client's activity over 30 days")

    if not scale:
        return
    big = scalar(sup, "SELECT client_id FROM tokens GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    r = rows(aud, q["q1"], {"client": big})
    tap.is_(len(r), scalar(sup, "SELECT count(*) FROM tokens t WHERE t.client_id = %s"
                           " AND token_is_valid(t)", (big,)),
            "q1: the largest client's live tokens, counted another way")
    r = rows(aud, q["q6"], {"client": big})
    got = {k: sum(x[k] for x in r) for k in ["issued_long", "issued_short", "rotated",
                                             "revoked", "failures"]}
    want = rows(sup, """
        SELECT count(*) FILTER (WHERE event = 'issued' AND token_kind = 'long') AS issued_long,
               count(*) FILTER (WHERE event = 'issued' AND token_kind = 'short') AS issued_short,
               count(*) FILTER (WHERE event = 'rotated') AS rotated,
               count(*) FILTER (WHERE event = 'revoked') AS revoked,
               coalesce(sum(count) FILTER (WHERE event = 'auth_failed'), 0) AS failures
        FROM token_events
        WHERE client_id = %s
          AND occurred_at >= (date_trunc('day', now() AT TIME ZONE 'UTC')
                              - interval '29 days') AT TIME ZONE 'UTC'""", (big,))[0]
    tap.is_(got, {k: int(v) for k, v in want.items()},
            "q6: the largest client's activity, counted another way")


def params_for(sup):
    """The arguments of each query for the plans: the largest client and
    family, a revoked short-term token."""
    big = scalar(sup, "SELECT client_id FROM tokens GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    fam = scalar(sup, "SELECT family_id FROM tokens WHERE client_id = %s AND family_id"
                 " IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1", (big,))
    tok = scalar(sup, "SELECT r.token_id FROM revocations r JOIN tokens t ON t.id ="
                 " r.token_id WHERE t.kind = 'short' AND r.revoked_by IS NOT NULL"
                 " ORDER BY r.revoked_at DESC LIMIT 1")
    return {"client": big, "family": fam, "token": tok or N["54"]}


def walk(node, out):
    out.append(node)
    for child in node.get("Plans", []):
        walk(child, out)


def check_plans(tap, aud, sup, q):
    big = {x["r"]: x["t"] for x in rows(sup, """
        SELECT c.relname AS r, c.reltuples AS t FROM pg_class c
        WHERE c.relname = 'tokens'
           OR c.oid IN (SELECT inhrelid FROM pg_inherits
                        WHERE inhparent = 'token_events'::regclass)""", {})}
    params = params_for(sup)
    # A control: a filter no index serves must show as a sequential scan.
    q = dict(q, control="SELECT count(*) FROM token_lineage WHERE label = %(client)s::text")
    for name, sql in q.items():
        with aud.cursor() as cur:
            t = time.monotonic()
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            plan = cur.fetchone()[0]
            ms = (time.monotonic() - t) * 1000
        if isinstance(plan, str):
            plan = json.loads(plan)
        nodes = []
        walk(plan[0]["Plan"], nodes)
        bad = ["%s (%d rows)" % (n["Relation Name"], big.get(n["Relation Name"], 0))
               for n in nodes
               if n["Node Type"] == "Seq Scan"
               and (n.get("Relation Name") == "tokens"
                    or big.get(n.get("Relation Name"), 0) > SEQ_SCAN_LIMIT)]
        if name == "control":
            tap.ok(bad, "the plan check sees a sequential scan of tokens (control)")
            continue
        tap.ok(not bad, "%s: no sequential scan of tokens or of a partition of over"
               " %d rows (%.0f ms)" % (name, SEQ_SCAN_LIMIT, ms),
               "sequential scans: " + ", ".join(bad))


ATTR_KEEP = ("Index Cond", "Group Key", "Sort Key", "Subplans Removed", "One-Time Filter",
             "Hash Cond", "Join Filter", "Recheck Cond", "InitPlan", "SubPlan")
EMPTY_SCAN = re.compile(r"^( *)->  Index Scan using (token_events_\d{4}_\d{2})\S* on \2 "
                        r"\S+ \(actual rows=0 loops=1\)$")


def collapse(lines):
    """Runs of empty index scans of partitions: the first, and a count."""
    out, i = [], 0
    while i < len(lines):
        m = EMPTY_SCAN.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        j, n = i + 1, 1
        while j < len(lines):
            if EMPTY_SCAN.match(lines[j]) and len(EMPTY_SCAN.match(lines[j]).group(1)) == \
                    len(m.group(1)):
                n += 1
                j += 1
            elif lines[j].startswith(m.group(1) + "      ") and "->" not in lines[j]:
                j += 1
            else:
                break
        out.append(lines[i])
        k = i + 1
        while k < len(lines) and lines[k].startswith(m.group(1) + "      ") and "->" not in lines[k]:
            out.append(lines[k])
            k += 1
        if n > 1:
            out.append("%s->  ... the same on %d more partitions, 0 rows each" % (m.group(1), n - 1))
        i = j
    return out


def print_plans(aud, sup, q):
    """Plans for the README: scans and their conditions, without the
    partitions a plan never reached."""
    params = params_for(sup)
    for name, sql in q.items():
        with aud.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params)
            lines = [r[0] for r in cur.fetchall()]
        out, skip_indent = [], None
        for line in lines:
            indent = len(line) - len(line.lstrip())
            is_node = "->" in line or not out
            if skip_indent is not None:
                if indent > skip_indent or (not is_node and indent >= skip_indent):
                    continue
                skip_indent = None
            if is_node and ("never executed" in line or
                            re.search(r"Seq Scan on token_events_\d{4}_\d{2} .*rows=0 ", line)):
                skip_indent = indent
                continue
            if is_node or line.strip().startswith(ATTR_KEEP) or line.startswith("Execution Time"):
                out.append(line)
        print("PLAN %s" % name)
        print("\n".join(collapse(out)))
        print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--super", required=True)
    ap.add_argument("--auditor", required=True)
    ap.add_argument("--readme", default="sql/README.md")
    ap.add_argument("--plans", action="store_true")
    ap.add_argument("--scale", action="store_true")
    ap.add_argument("--print-plans", action="store_true")
    a = ap.parse_args()
    q = read_queries(a.readme)
    sup = psycopg2.connect(a.super)
    aud = psycopg2.connect(a.auditor)
    sup.autocommit = aud.autocommit = True
    if a.print_plans:
        print_plans(aud, sup, q)
        return 0
    tap = Tap()
    tap.is_(sorted(q), sorted(["q1", "q2", "q2_family", "q3", "q4", "q5_addresses",
                               "q5_clients", "q6"]), "the README's queries")
    tap.is_(scalar(aud, "SELECT current_user = %s", (scalar(sup,
            "SELECT name FROM tokend_roles WHERE role = 'auditor'"),)), True,
            "the queries run as the auditor role")
    try:
        check_answers(tap, aud, sup, q, a.scale)
        if a.plans:
            check_plans(tap, aud, sup, q)
    except psycopg2.Error as e:
        tap.ok(False, "the queries run", str(e))
    print("%d passed, %d failed" % (tap.n - tap.failed, tap.failed))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
