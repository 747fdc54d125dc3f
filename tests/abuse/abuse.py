#!/usr/bin/env python3
"""Abuse resistance of a running tokend behind lighttpd (CONTRACT §2, §12).

Run by tests/abuse/run.sh, which starts tokend (rate_limit_budget and
rate_limit_window at their defaults, 20 and 60 s) and lighttpd and sets:
  ABUSE_HOST, ABUSE_PORT   lighttpd on loopback; base path /v1
  ABUSE_DB                 libpq conninfo of tokend's database (superuser)
  ABUSE_PIDFILE            tokend's master pid file, to stop it at the end
  ABUSE_CLIENT_ID, ABUSE_CLIENT_KEY   a client with scope "read"
  ABUSE_BURST              requests per burst (default 10000)

Every address is a loopback address of its own, which lighttpd passes to
tokend as REMOTE_ADDR:
  127.0.0.2  the burst: well-formed long-term tokens (prefix, length,
             alphabet, checksum right; random ids) on POST /short and on
             POST /{id}/revoke, from 8 keep-alive connections at once;
  127.0.0.4  at the same time, as many tokens with a bad checksum;
  127.0.0.3  meanwhile, a legitimate client: short-term tokens and
             revocations with its real long-term token;
  127.0.0.5  wrong keys of an existing client and keys of an unknown one.
Then tokend is stopped (its flusher writes the last counts at SIGTERM and
its connections flush their statistics as they close) and the database is
read: rows left, auth_failed counts, and the statistics of every table.

Prints "ok - ..." or "not ok - ..." per check and "N passed, N failed".
"""
import http.client
import json
import os
import sys
import threading
import time
import uuid

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import tokfmt  # noqa: E402  (tests/e2e/tokfmt.py: the token format, in Python)

HOST = os.environ["ABUSE_HOST"]
PORT = int(os.environ["ABUSE_PORT"])
BASE = "/v1/auth/tokens"
BUDGET, WINDOW, RETRY_AFTER = 20, 60, "1"	# tokend's defaults
CONNS = 8					# connections per attacking address
TOKEND_THREADS = 2 * 4				# workers x threads of run.sh's tokend
N = int(os.environ.get("ABUSE_BURST", "10000"))
ATTACK, LEGIT, CHECKSUM, KEYS = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"
CH_BEARER_INVALID = 'Bearer realm="tokend", error="invalid_token"'
CH_KEY_INVALID = 'ClientKey realm="tokend", header="X-Client-Key", error="invalid_client"'

passed = failed = 0


def check(name, cond, why=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + name, flush=True)
    else:
        failed += 1
        print("not ok - %s%s" % (name, ": " + why if why else ""), flush=True)


class Conn:
    """One keep-alive HTTP connection from a given loopback address."""

    def __init__(self, source):
        self.source = source
        self.c = None

    def post(self, path, headers=None, body=b""):
        hdrs = {"Content-Length": str(len(body))}
        hdrs.update(headers or {})
        for attempt in (1, 2):
            if self.c is None:
                self.c = http.client.HTTPConnection(HOST, PORT, timeout=30,
                                                    source_address=(self.source, 0))
            try:
                self.c.request("POST", path, body=body, headers=hdrs)
                r = self.c.getresponse()
                data = r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                # lighttpd closed an idle keep-alive connection before the
                # request reached it: nothing was answered, send again.
                self.c.close()
                self.c = None
                if attempt == 2:
                    raise e
                continue
            if r.will_close:
                self.c.close()
                self.c = None
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data, \
                r.headers.get_all("WWW-Authenticate") or []
        raise AssertionError("unreachable")


def problem_error(data):
    try:
        return json.loads(data).get("error")
    except ValueError:
        return None


def verdict(status, hdrs, data, challenges, want401_error, want401_challenge):
    """'' when the answer is a correct 401 or 429, else why not."""
    err = problem_error(data)
    if hdrs.get("content-type") != "application/problem+json":
        return "content type %r" % hdrs.get("content-type")
    if status == 401:
        if err != want401_error:
            return "401 with error %r" % err
        if challenges != [want401_challenge]:
            return "401 with challenges %r" % challenges
        return ""
    if status == 429:
        if err != "too_many_requests":
            return "429 with error %r" % err
        if hdrs.get("retry-after") != RETRY_AFTER:
            return "429 with Retry-After %r" % hdrs.get("retry-after")
        return ""
    return "status %d (%r)" % (status, err)


def run_burst(source, requests, out):
    """Send requests (list of (path, headers)) over CONNS connections.

    out gets one list per connection of (status, verdict) in send order.
    """
    lock = threading.Lock()
    queue = list(reversed(requests))
    lists = [[] for _ in range(CONNS)]

    def worker(i):
        conn = Conn(source)
        while True:
            with lock:
                if not queue:
                    return
                path, hdrs = queue.pop()
            try:
                status, h, data, ch = conn.post(path, hdrs)
            except OSError as e:
                lists[i].append((0, "no answer: %s" % e))
                continue
            lists[i].append((status, verdict(status, h, data, ch, "invalid_token",
                                              CH_BEARER_INVALID)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.extend(lists)


def judge_burst(what, lists, sent):
    answers = [a for lst in lists for a in lst]
    n401 = sum(1 for s, _ in answers if s == 401)
    n429 = sum(1 for s, _ in answers if s == 429)
    bad = [v for _, v in answers if v]
    check("%s: every one of %d requests answered 401 invalid_token or 429 "
          "too_many_requests with Retry-After: %s" % (what, sent, RETRY_AFTER),
          len(answers) == sent and not bad,
          "%d answers, %d wrong, e.g. %s" % (len(answers), len(bad), bad[:3]))
    # Requests already past the check when the budget ran out may still
    # fail (and count): at most one per other request in flight.
    most = BUDGET + min(CONNS, TOKEND_THREADS) - 1
    check("%s: 401 until the budget of %d is spent (%d; at most %d with %d in "
          "flight), then 429 (%d)" % (what, BUDGET, n401, most, CONNS, n429),
          BUDGET <= n401 <= most and n401 + n429 == sent)
    late = [i for i, lst in enumerate(lists)
            if any(s == 401 for s, _ in lst[next((k for k, (s, _) in enumerate(lst)
                                                  if s == 429), len(lst)):])]
    check("%s: on every connection, no 401 after the first 429" % what, not late,
          "connections %r" % late)
    return n401


def legit_loop(long_token, stop, log):
    """A real client at work from LEGIT until stop is set."""
    conn = Conn(LEGIT)
    auth = {"Authorization": "Bearer " + long_token}
    n = 0
    while not stop.is_set():
        t = time.monotonic()
        status, h, data, _ = conn.post(BASE + "/short", dict(auth, **{
            "Content-Type": "application/json"}), b"{}")
        log.append(("short", status, t))
        n += 1
        if status == 201 and n % 4 == 0:
            sid = json.loads(data)["token_id"]
            t = time.monotonic()
            status, _, _, _ = conn.post(BASE + "/%s/revoke" % sid, auth)
            log.append(("revoke", status, t))
        time.sleep(0.005)


def db():
    c = psycopg2.connect(os.environ["ABUSE_DB"])
    c.autocommit = True
    return c


MINE = [0]	# statements this script ran: each is a transaction of its own


def q(conn, sql, args=None):
    MINE[0] += 1
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def table_stats(conn):
    """{table: (ins, upd, del)}, partitions of token_events summed as token_events."""
    out = {}
    for name, ins, upd, dele in q(conn, "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del "
                                        "FROM pg_stat_user_tables"):
        key = "token_events" if name.startswith("token_events") else name
        a = out.get(key, (0, 0, 0))
        out[key] = (a[0] + ins, a[1] + upd, a[2] + dele)
    return out


def xacts(conn):
    return q(conn, "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                   "WHERE datname = current_database()")[0][0]


def stop_tokend():
    """SIGTERM to the master; True once it and its connections are gone."""
    pid = int(open(os.environ["ABUSE_PIDFILE"]).read().strip())
    try:
        if open("/proc/%d/comm" % pid).read().strip() != "tokend":
            return False
        os.kill(pid, 15)
    except OSError:
        return False
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and os.path.exists("/proc/%d" % pid):
        try:
            if " Z " in open("/proc/%d/stat" % pid).read():
                break
        except OSError:
            break
        time.sleep(0.1)
    return not os.path.exists("/proc/%d" % pid) or \
        " Z " in open("/proc/%d/stat" % pid).read()


def main():
    client_id, client_key = os.environ["ABUSE_CLIENT_ID"], os.environ["ABUSE_CLIENT_KEY"]
    pg = db()
    # tokend has not connected yet (connections are made on first use),
    # so these are all that happened before.
    stats0, xact0 = table_stats(pg), xacts(pg)
    rows0 = {t: q(pg, "SELECT count(*) FROM %s" % t)[0][0]
             for t in ("clients", "tokens", "revocations", "token_events")}

    legit = Conn(LEGIT)
    status, _, data, _ = legit.post(BASE + "/long", {
        "Content-Type": "application/json", "X-Client-Key": client_key},
        json.dumps({"grant_type": "client_credentials", "client_id": client_id}).encode())
    check("a long-term token for the legitimate client (201)", status == 201,
          "HTTP %d %s" % (status, data[:200]))
    if status != 201:
        return
    long_token = json.loads(data)["long_token"]

    # The bursts: random ids, so no client or token is known.
    attack = []
    for i in range(N):
        tok = tokfmt.mint("long")
        path = BASE + "/short" if i % 2 == 0 else BASE + "/%s/revoke" % uuid.uuid4()
        attack.append((path, {"Authorization": "Bearer " + tok,
                              "Content-Type": "application/json"}))
    assert all(tokfmt.is_well_formed(h["Authorization"][7:]) for _, h in attack[:100])
    garbled = []
    for i in range(N):
        tok = tokfmt.change_one_char(tokfmt.mint("long"), 4 + i % 65)
        garbled.append((BASE + "/short", {"Authorization": "Bearer " + tok,
                                          "Content-Type": "application/json"}))
    assert not any(tokfmt.is_well_formed(h["Authorization"][7:]) for _, h in garbled[:100])

    stop, log = threading.Event(), []
    lt = threading.Thread(target=legit_loop, args=(long_token, stop, log))
    lt.start()
    time.sleep(0.2)
    a_out, g_out = [], []
    t0 = time.monotonic()
    ta = threading.Thread(target=run_burst, args=(ATTACK, attack, a_out))
    tg = threading.Thread(target=run_burst, args=(CHECKSUM, garbled, g_out))
    ta.start()
    tg.start()
    ta.join()
    t_a = time.monotonic()
    tg.join()
    t1 = time.monotonic()
    time.sleep(0.2)
    stop.set()
    lt.join()
    print("# bursts: %d + %d requests in %.1f s (%.0f/s)" % (N, N, t1 - t0, 2 * N / (t1 - t0)))

    n401_a = judge_burst("well-formed tokens from %s" % ATTACK, a_out, N)
    n401_g = judge_burst("bad checksums from %s" % CHECKSUM, g_out, N)
    during = [e for e in log if t0 <= e[2] <= t_a]
    wrong = [e for e in log if e[1] != (201 if e[0] == "short" else 204)]
    check("a legitimate client at %s kept working during the burst: %d requests, %d "
          "of them during it, all 201 (short) or 204 (revoke), none 429"
          % (LEGIT, len(log), len(during)),
          len(during) >= 10 and not wrong, "during=%d wrong=%r" % (len(during), wrong[:5]))
    issued = sum(1 for e in log if e[0] == "short" and e[1] == 201) + 1  # + the long one
    revoked = sum(1 for e in log if e[0] == "revoke" and e[1] == 204)

    # Wrong keys of an existing client and keys of an unknown client,
    # alternating, from one address: one budget.
    keys = Conn(KEYS)
    unknown = str(uuid.uuid4())
    answers = []
    for i in range(BUDGET):
        cid = client_id if i % 2 == 0 else unknown
        status, h, data, ch = keys.post(BASE + "/long", {
            "Content-Type": "application/json",
            "X-Client-Key": tokfmt.mint("client", cid)},
            json.dumps({"grant_type": "client_credentials", "client_id": cid}).encode())
        answers.append(verdict(status, h, data, ch, "invalid_client", CH_KEY_INVALID)
                       if status == 401 else "status %d" % status)
    check("%d wrong keys from %s, half of an existing client and half of an unknown "
          "one: each 401 invalid_client" % (BUDGET, KEYS), not any(answers), repr(answers))
    body = json.dumps({"grant_type": "client_credentials", "client_id": client_id}).encode()
    status, h, data, _ = keys.post(BASE + "/long", {
        "Content-Type": "application/json", "X-Client-Key": tokfmt.mint("client", client_id)},
        body)
    check("the next wrong key from %s: 429 too_many_requests" % KEYS,
          status == 429 and problem_error(data) == "too_many_requests"
          and h.get("retry-after") == RETRY_AFTER, "HTTP %d %r" % (status, data[:200]))
    status, _, data, _ = keys.post(BASE + "/long", {
        "Content-Type": "application/json", "X-Client-Key": client_key}, body)
    check("even the right key from %s: 429 (the limit is per address, before the "
          "credential)" % KEYS, status == 429, "HTTP %d" % status)
    status, _, data, _ = legit.post(BASE + "/long", {
        "Content-Type": "application/json", "X-Client-Key": client_key}, body)
    check("the right key from %s: 201 (the client id is not limited)" % LEGIT,
          status == 201, "HTTP %d %r" % (status, data[:200]))
    issued += status == 201

    # Stop tokend: the flusher writes what is pending, the connections
    # go and their statistics with them.
    check("tokend stops on SIGTERM", stop_tokend())
    for _ in range(100):
        if q(pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                 "AND pid <> pg_backend_pid()")[0][0] == 0:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    stats1, xact1 = table_stats(pg), xacts(pg)
    rows1 = {t: q(pg, "SELECT count(*) FROM %s" % t)[0][0] for t in rows0}

    failed_rows = q(pg, "SELECT host(remote_addr), client_id::text, count, "
                        "extract(epoch FROM last_at - first_at) "
                        "FROM token_events WHERE event = 'auth_failed' ORDER BY id")
    by = {}
    for addr, cid, count, _ in failed_rows:
        by.setdefault((addr, cid), []).append(count)
    span = t1 - t0 + 2
    for addr, n401, what in ((ATTACK, n401_a, "well-formed tokens"),
                             (CHECKSUM, n401_g, "bad checksums")):
        counts = by.get((addr, None), [])
        check("auth_failed rows for %s (%s): %d row(s) with no client, counts summing "
              "to the %d answered 401, at most one per second of the burst (%.0f)"
              % (addr, what, len(counts), n401, span),
              counts and sum(counts) == n401 and len(counts) <= span
              and set(k for k in by if k[0] == addr) == {(addr, None)},
              "rows %r" % {k: v for k, v in by.items() if k[0] == addr})
    check("auth_failed rows for %s: %d for the existing client, %d for no client"
          % (KEYS, sum(by.get((KEYS, client_id), [])), sum(by.get((KEYS, None), []))),
          sum(by.get((KEYS, client_id), [])) == BUDGET // 2
          and sum(by.get((KEYS, None), [])) == BUDGET // 2
          and set(k for k in by if k[0] == KEYS) == {(KEYS, client_id), (KEYS, None)},
          "rows %r" % {k: v for k, v in by.items() if k[0] == KEYS})
    check("no auth_failed row for the legitimate address %s" % LEGIT,
          not any(k[0] == LEGIT for k in by))

    # Rows: only what the legitimate client did, and the flusher's rows.
    events = q(pg, "SELECT event, count(*) FROM token_events GROUP BY event")
    ev = dict(events)
    want_rows = {"clients": 0, "tokens": issued, "revocations": revoked,
                 "token_events": issued + revoked + len(failed_rows)}
    got_rows = {t: rows1[t] - rows0[t] for t in rows0}
    check("rows added: %r = the legitimate client's %d tokens and %d revocations, "
          "their audit rows and %d auth_failed rows" % (got_rows, issued, revoked,
                                                         len(failed_rows)),
          got_rows == want_rows and ev.get("auth_failed", 0) == len(failed_rows),
          "want %r, events %r" % (want_rows, ev))
    delta = {t: tuple(b - a for a, b in zip(stats0.get(t, (0, 0, 0)), v))
             for t, v in stats1.items()}
    changed = {t: d for t, d in delta.items() if d != (0, 0, 0)}
    want_stats = {t: (n, 0, 0) for t, n in want_rows.items() if n}
    check("table statistics: inserts exactly those rows, no update, no delete "
          "(%r)" % changed, changed == want_stats, "want %r" % want_stats)
    # Requests that reached the database: the well-formed ones before the
    # limit, the legitimate ones, the flushes; not the 429s, not the bad
    # checksums.
    # Allowance: this script's own statements; the set-up of up to 16
    # pool connections (2 workers x 4 threads, statements prepared on
    # each) and the flusher's; autovacuum.  Still a small fraction of
    # the 20,000 requests.
    reached = n401_a + len(log) + 2 + BUDGET + len(failed_rows)
    most = reached + MINE[0] + 250
    check("transactions in the database: %d for %d requests (at most %d: the %d "
          "well-formed failures before the limit, the legitimate client's %d requests, "
          "the %d key checks, the flushes, and %d statements of this test)"
          % (xact1 - xact0, 2 * N + len(log) + BUDGET + 4, most, n401_a, len(log) + 2,
             BUDGET, MINE[0]),
          0 < xact1 - xact0 <= most)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash of the test is a failure, with its cause
        check("the test ran to its end", False, "%s: %s" % (type(e).__name__, e))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 else 1)
