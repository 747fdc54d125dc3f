#!/usr/bin/env python3
"""faults.py - the client side of tests/faults/run.sh.

One case per call: it drives real HTTP requests at tokend (through
lighttpd) while the fault named by the case happens, then checks what a
user would check - statuses, headers, bodies - and the rows left in the
database.  Each check prints one line, "ok - ..." or "not ok - ...";
run.sh counts them.

Environment: FAULTS_BASE (http://127.0.0.1:PORT/v1), FAULTS_DB (a
libpq conninfo of the superuser on the database), FAULTS_TOKENCTL (the
tokenctl binary).  The fault itself (a command run at the right moment)
comes as an argument from run.sh, which owns the servers.
"""
import argparse
import hashlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
import zlib

import psycopg2

BASE = os.environ.get("FAULTS_BASE", "")
DB = os.environ.get("FAULTS_DB", "")
TOKENCTL = os.environ.get("FAULTS_TOKENCTL", "tokenctl")
# request_timeout (5 s) plus generous slack for a loaded machine.
ANSWER_WITHIN = float(os.environ.get("FAULTS_ANSWER_WITHIN", "12"))
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - %s" % name, flush=True)
    else:
        failed += 1
        print("not ok - %s%s" % (name, (": " + detail) if detail else ""),
              flush=True)
    return cond


def note(msg):
    print("# %s" % msg, flush=True)


# ------------------------------------------------------------------ HTTP

class Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, timeout=ANSWER_WITHIN):
        u = urllib.parse.urlsplit(BASE)
        self.host, self.port, self.prefix = u.hostname, u.port, u.path
        self.timeout = timeout
        self.conn = None

    def open(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port,
                                                   timeout=self.timeout)
            self.conn.connect()

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, method, path, headers=None, body=None):
        """Send a request; the answer is read by receive()."""
        self.open()
        h = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else body.encode()
        elif method == "POST":
            data = b""
        self.conn.request(method, self.prefix + path, body=data, headers=h)

    def receive(self):
        r = self.conn.getresponse()
        raw = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return r.status, hdrs, doc

    def call(self, method, path, headers=None, body=None):
        """(status, headers, json or None, seconds); status 0 on a
        transport error, "timeout" past ANSWER_WITHIN."""
        t0 = time.monotonic()
        for attempt in (1, 2):
            reused = self.conn is not None
            try:
                self.send(method, path, headers, body)
                st, h, doc = self.receive()
                return st, h, doc, time.monotonic() - t0
            except (TimeoutError, OSError, http.client.HTTPException) as e:
                self.close()
                if isinstance(e, TimeoutError) or "timed out" in str(e):
                    return "timeout", {}, None, time.monotonic() - t0
                # Only a keep-alive connection the server had closed
                # before this request is tried again, as clients do.
                if not (reused and attempt == 1 and isinstance(
                        e, (http.client.RemoteDisconnected,
                            BrokenPipeError, ConnectionResetError))):
                    return 0, {"error": str(e)}, None, time.monotonic() - t0
        return 0, {}, None, time.monotonic() - t0


JSON = {"Content-Type": "application/json"}


def issue_long(c, cid, key, **extra):
    body = {"grant_type": "client_credentials", "client_id": cid}
    body.update(extra)
    return c.call("POST", "/auth/tokens/long",
                  dict(JSON, **{"X-Client-Key": key}), json.dumps(body))


def rotate(c, cid, key, token_id, **extra):
    body = {"grant_type": "rotate", "client_id": cid, "token_id": token_id}
    body.update(extra)
    return c.call("POST", "/auth/tokens/long",
                  dict(JSON, **{"X-Client-Key": key}), json.dumps(body))


def issue_short(c, bearer, **extra):
    return c.call("POST", "/auth/tokens/short",
                  dict(JSON, Authorization="Bearer " + bearer),
                  json.dumps(extra))


def revoke(c, bearer, target):
    return c.call("POST", "/auth/tokens/%s/revoke" % target,
                  {"Authorization": "Bearer " + bearer}, b"")


def probe(c, bearer):
    """Is the token accepted?  Revoking an id that does not exist is 404
    for a valid bearer, 401 for a refused one, and writes nothing."""
    return revoke(c, bearer, str(uuid.uuid4()))[0]


def new_client(name, scope="read tokend:rotate tokend:revoke",
               default="read"):
    out = subprocess.run([TOKENCTL, "--admin-database-url", DB, "client",
                          "create", "--name", name, "--scope", scope,
                          "--default-scope", default],
                         check=True, capture_output=True, text=True).stdout
    vals = dict(line.split(": ", 1) for line in out.splitlines()
                if ": " in line)
    return vals["client_id"].strip(), vals["client_key"].strip()


def db():
    conn = psycopg2.connect(DB)
    conn.autocommit = True
    return conn


def q(sql, *args):
    conn = db()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def q1(sql, *args):
    return q(sql, *args)[0][0]


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def secret_of(token):
    """The 32 random bytes of a token: the low bytes of its body."""
    n = 0
    for ch in token[4:69]:
        n = n * 62 + ALPHABET.index(ch)
    return n.to_bytes(48, "big")[16:]


def b62(n, width):
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = ALPHABET[r] + out
    return out.rjust(width, "0")


def well_formed_like(token):
    """The same id with another secret and a correct checksum: a key
    that passes the format check and fails in the database."""
    n = 0
    for ch in token[4:69]:
        n = n * 62 + ALPHABET.index(ch)
    raw = n.to_bytes(48, "big")
    body = b62(int.from_bytes(raw[:16] + os.urandom(32), "big"), 65)
    crc = zlib.crc32((token[:4] + body).encode())
    return token[:4] + body + b62(crc, 6)


def run_until(stop, fn):
    while not stop.is_set():
        fn()


def statuses(results):
    out = {}
    for r in results:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def record(kind, res, **kw):
    st, h, doc, secs = res
    d = {"kind": kind, "status": st, "retry_after": h.get("retry-after"),
         "secs": secs, "doc": doc}
    d.update(kw)
    return d


def check_5xx_only_503(results, what):
    bad = [r for r in results if not (isinstance(r["status"], int)
           and (r["status"] < 500 or r["status"] == 503))]
    check("%s: no 5xx but 503, no transport error or time-out (%s)"
          % (what, statuses(results)), not bad,
          "e.g. %r" % (bad[:3],))
    no_ra = [r for r in results if r["status"] == 503 and
             r["retry_after"] is None]
    check("%s: every 503 carries Retry-After (%d of %d)"
          % (what, len(no_ra), sum(1 for r in results
                                   if r["status"] == 503)), not no_ra)
    slow = max((r["secs"] for r in results), default=0)
    check("%s: every request answered within %.0f s (slowest %.2f s)"
          % (what, ANSWER_WITHIN, slow), slow <= ANSWER_WITHIN)


def ready(fn, seconds=15):
    """fn's answer once it is not a 503: a setup step right after the
    database came back meets the pool's broken connections first."""
    t0 = time.monotonic()
    while True:
        res = fn()
        if res[0] != 503 or time.monotonic() - t0 > seconds:
            return res
        time.sleep(0.2)


def wait_201(fn, seconds=30):
    """Retry fn until it answers 201; the seconds it took, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        res = fn()
        if res[0] == 201:
            return time.monotonic() - t0
        time.sleep(0.2)
    return None


# ------------------------------------------------------ invariants (all)

def invariants(what):
    """What must hold in the database after any fault."""
    no_event = q1("""
        SELECT count(*) FROM tokens t WHERE NOT EXISTS (
            SELECT 1 FROM token_events e WHERE e.token_id = t.id
            AND e.event = CASE WHEN t.rotated_from IS NULL THEN 'issued'
                               ELSE 'rotated' END)""")
    check("%s: every token has its audit row (%d without)"
          % (what, no_event), no_event == 0)
    no_rev_event = q1("""
        SELECT count(*) FROM revocations r JOIN tokens t ON t.id = r.token_id
        WHERE r.reason <> 'client_disabled' AND NOT EXISTS (
            SELECT 1 FROM token_events e WHERE
            (r.reason = 'requested' AND e.event = 'revoked'
             AND e.token_id = r.token_id)
            OR (r.reason = 'superseded' AND e.event = 'superseded'
             AND e.token_id = r.token_id)
            OR (r.reason = 'reuse_detected' AND e.event = 'reuse_detected'
             AND e.family_id = t.family_id))""")
    check("%s: every revocation has its audit row (%d without)"
          % (what, no_rev_event), no_rev_event == 0)
    extra_events = q1("""
        SELECT count(*) FROM token_events e WHERE e.event IN
        ('issued', 'rotated') AND NOT EXISTS (
            SELECT 1 FROM tokens t WHERE t.id = e.token_id)""")
    check("%s: no audit row of an issue that did not commit (%d)"
          % (what, extra_events), extra_events == 0)
    two_live = q1("""
        SELECT count(*) FROM (SELECT rotated_from FROM tokens t
        WHERE rotated_from IS NOT NULL AND token_is_valid(t)
        GROUP BY rotated_from HAVING count(*) > 1) x""")
    check("%s: no rotated token has two live successors (%d have)"
          % (what, two_live), two_live == 0)


# ------------------------------------------------- (a) restart under load

def case_pg_restart(args):
    cid, key = new_client("faults-restart")
    c = Client()
    st, _, doc, _ = issue_long(c, cid, key)
    if not check("restart: a long-term token to load with", st == 201):
        return
    bearer = doc["long_token"]
    results, lock, stop = [], threading.Lock(), threading.Event()

    def worker(i):
        cl = Client()
        n = 0
        while not stop.is_set():
            n += 1
            if n % 3 == 0:
                r = record("long", issue_long(cl, cid, key))
            else:
                r = record("short", issue_short(cl, bearer))
            with lock:
                results.append(r)
        cl.close()

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in ths:
        t.start()
    time.sleep(1.5)
    t0 = time.monotonic()
    rc = subprocess.run(args.cmd, shell=True).returncode
    note("restart: pg_ctl restart took %.2f s" % (time.monotonic() - t0))
    time.sleep(3)
    stop.set()
    for t in ths:
        t.join()
    check("restart: pg_ctl restart -m fast succeeded", rc == 0)
    n503 = sum(1 for r in results if r["status"] == 503)
    check("restart: requests during the outage answer 503 (%d of %d)"
          % (n503, len(results)), n503 >= 1)
    check_5xx_only_503(results, "restart")
    back = wait_201(lambda: issue_short(c, bearer))
    check("restart: service back without restarting tokend (%s)"
          % ("%.1f s" % back if back is not None else "never"),
          back is not None)
    ids = [r["doc"]["token_id"] for r in results if r["status"] == 201]
    found = q1("SELECT count(*) FROM tokens WHERE id = ANY(%s::uuid[])", ids)
    check("restart: every 201 names a committed token (%d of %d)"
          % (found, len(ids)), found == len(ids))
    invariants("restart")


# ---------------------------------------- (b) SIGKILL during rotations

def case_pg_kill(args):
    cid, key = new_client("faults-kill")
    results, lock, stop = [], threading.Lock(), threading.Event()
    chains = {}

    # Revocations alongside the rotations: their targets, made first.
    c = Client()
    st, _, bdoc, _ = ready(lambda: issue_long(c, cid, key))
    if not check("kill: the revoking bearer", st == 201):
        return
    targets = []

    def make(k):
        cl = Client()
        for _ in range(k):
            st, _, d, _ = ready(lambda: issue_long(cl, cid, key))
            if st == 201:
                with lock:
                    targets.append((d["token_id"], d["long_token"]))
        cl.close()

    ths = [threading.Thread(target=make, args=(100,)) for _ in range(3)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()

    def revoker(mine):
        cl = Client()
        while mine and not stop.is_set():
            tid, _ = mine[0]
            r = record("revoke", revoke(cl, bdoc["long_token"], tid),
                       target=tid)
            with lock:
                results.append(r)
            if r["status"] == 204:
                mine.pop(0)
                time.sleep(0.02)	# spread over the crash
            else:
                time.sleep(0.05)	# retried, as a client would
        cl.close()

    def worker(i):
        cl = Client()
        st, _, doc, _ = ready(lambda: issue_long(cl, cid, key))
        if st != 201:
            with lock:
                results.append(record("first", (st, {}, doc, 0)))
            return
        cur = doc["token_id"]
        chain = [cur]
        while not stop.is_set():
            r = record("rotate", rotate(cl, cid, key, cur), old=cur)
            with lock:
                results.append(r)
            if r["status"] == 201:
                cur = r["doc"]["token_id"]
                chain.append(cur)
            elif r["status"] == 503:
                time.sleep(0.05)	# a client retries the same rotation
        with lock:
            chains[i] = chain
        cl.close()

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    ths += [threading.Thread(target=revoker, args=(targets[k::2],))
            for k in range(2)]
    for t in ths:
        t.start()
    time.sleep(1.5)
    rc = subprocess.run(args.kill, shell=True).returncode
    check("kill: the postmaster was SIGKILLed", rc == 0)
    time.sleep(1)
    t0 = time.monotonic()
    rc = subprocess.run(args.start, shell=True).returncode
    check("kill: PostgreSQL restarted after the crash (%.1f s)"
          % (time.monotonic() - t0), rc == 0)
    back = wait_201(lambda: issue_long(c, cid, key))
    check("kill: service back without restarting tokend (%s)"
          % ("%.1f s" % back if back is not None else "never"),
          back is not None)
    time.sleep(2)
    stop.set()
    for t in ths:
        t.join()
    n503 = sum(1 for r in results if r["status"] == 503)
    check("kill: rotations during the crash answer 503 (%d of %d)"
          % (n503, len(results)), n503 >= 1)
    check_5xx_only_503(results, "kill")
    note("kill: revokes %s" % statuses([r for r in results
                                        if r["kind"] == "revoke"]))
    gone = {r["target"] for r in results if r["status"] == 204}
    rows = q1("SELECT count(*) FROM revocations WHERE reason = 'requested' "
              "AND token_id = ANY(%s::uuid[])", list(gone))
    check("kill: every 204 has its revocation row after the crash (%d of "
          "%d)" % (rows, len(gone)), rows == len(gone) and len(gone) > 0)
    refused = [probe(c, lt) for tid, lt in targets if tid in gone]
    check("kill: every token revoked with a 204 is refused (%d of %d)"
          % (refused.count(401), len(refused)),
          refused.count(401) == len(refused))
    ok = [r for r in results if r["status"] == 201]
    ids = [r["doc"]["token_id"] for r in ok]
    found = q1("SELECT count(*) FROM tokens WHERE id = ANY(%s::uuid[])", ids)
    check("kill: every 201 successor exists (%d of %d)" % (found, len(ids)),
          found == len(ids))
    linked = q1("""SELECT count(*) FROM tokens t JOIN unnest(%s::uuid[],
        %s::uuid[]) AS u(new, old) ON t.id = u.new AND t.rotated_from = u.old""",
                [r["doc"]["token_id"] for r in ok], [r["old"] for r in ok])
    check("kill: each 201 successor is rotated from the token named "
          "(%d of %d)" % (linked, len(ok)), linked == len(ok))
    last_live = 0
    for chain in chains.values():
        last_live += q1("SELECT count(*) FROM tokens t WHERE id = %s "
                        "AND token_is_valid(t)", chain[-1])
    check("kill: the last successor of each chain is live (%d of %d)"
          % (last_live, len(chains)), last_live == len(chains) == 6)
    # What tokend answers for each successor is what the rows say.
    valid = dict(q("SELECT id::text, token_is_valid(t) FROM tokens t "
                   "WHERE id = ANY(%s::uuid[])", ids))
    wrong = [r["doc"]["token_id"] for r in ok
             if probe(c, r["doc"]["long_token"]) !=
             (404 if valid.get(r["doc"]["token_id"]) else 401)]
    check("kill: each successor is accepted exactly when its row is valid "
          "(%d of %d differ; %d superseded refused)"
          % (len(wrong), len(ok), sum(1 for v in valid.values() if not v)),
          not wrong)
    # Each rotated token: its successors are all revoked but at most one.
    invariants("kill")


# --------------------------------------- (c) a worker SIGKILLed in revokes

def case_worker_kill(args):
    cid, key = new_client("faults-worker")
    c = Client()
    st, _, doc, _ = ready(lambda: issue_long(c, cid, key))
    if not check("worker: the revoking bearer", st == 201):
        return
    bearer = doc["long_token"]
    targets, lock = [], threading.Lock()

    def make(k):
        cl = Client()
        for _ in range(k):
            st, _, d, _ = issue_long(cl, cid, key)
            st2, _, d2, _ = issue_short(cl, d["long_token"])
            with lock:
                targets.append((d["token_id"], d["long_token"],
                                d2["access_token"]))
        cl.close()

    ths = [threading.Thread(target=make, args=(60,)) for _ in range(6)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    check("worker: 360 targets with a short-term child each",
          len(targets) == 360)
    done, results = [0], []
    share = [targets[i::6] for i in range(6)]

    def rev(mine):
        cl = Client()
        for tid, _, _ in mine:
            r = record("revoke", revoke(cl, bearer, tid), target=tid)
            with lock:
                results.append(r)
                done[0] += 1
        cl.close()

    ths = [threading.Thread(target=rev, args=(s,)) for s in share]
    for t in ths:
        t.start()
    while done[0] < len(targets) // 3:
        time.sleep(0.005)
    os.kill(args.victim, 9)
    note("worker: SIGKILL to worker %d after %d revokes"
         % (args.victim, done[0]))
    for t in ths:
        t.join()
    bad = [r for r in results if r["status"] != 204]
    check("worker: only requests inside the killed worker failed "
          "(%d, at most 8: %s)" % (len(bad), statuses(results)),
          len(bad) <= 8)
    slow = max(r["secs"] for r in results)
    check("worker: every revoke answered within %.0f s (slowest %.2f s)"
          % (ANSWER_WITHIN, slow), slow <= ANSWER_WITHIN)
    # A client retries what failed: a revoke is safe to repeat.
    for r in bad:
        r2 = record("revoke", revoke(c, bearer, r["target"]),
                    target=r["target"])
        results.append(r2)
    ok = {r["target"] for r in results if r["status"] == 204}
    check("worker: every revoke answered 204 once retried (%d of %d)"
          % (len(ok), len(targets)), len(ok) == len(targets))
    rows = q1("SELECT count(*) FROM revocations WHERE reason = 'requested' "
              "AND token_id = ANY(%s::uuid[])", list(ok))
    check("worker: every 204 has its revocation row (%d of %d)"
          % (rows, len(ok)), rows == len(ok))
    refused = [probe(c, lt) for _, lt, _ in targets]
    check("worker: every revoked token is refused (%d of %d answer 401)"
          % (refused.count(401), len(refused)),
          refused.count(401) == len(refused))
    refused = [probe(c, st) for _, _, st in targets]
    check("worker: their short-term tokens are refused (%d of %d)"
          % (refused.count(401), len(refused)),
          refused.count(401) == len(refused))
    check("worker: the bearer still works", probe(c, bearer) == 404)
    invariants("worker")


# ------------------------------------------------- (d) pool exhaustion

def case_pool(args):
    cid, key = new_client("faults-pool")
    c = Client()
    st, _, doc, _ = issue_long(c, cid, key)
    st2, _, doc2, _ = issue_long(c, cid, key)
    if not check("pool: two long-term tokens", st == 201 and st2 == 201):
        return
    locked, other = doc["token_id"], doc2["long_token"]
    hold = db()
    hold.autocommit = False
    cur = hold.cursor()
    cur.execute("SELECT 1 FROM tokens WHERE id = %s FOR UPDATE", (locked,))
    out = {}

    def held():
        out["rot"] = rotate(Client(), cid, key, locked)

    t = threading.Thread(target=held)
    t.start()
    time.sleep(0.5)	# the rotation holds the only connection, waiting
    others = []

    def one(i):
        r = record("short", issue_short(Client(), other))
        with threading.Lock():
            others.append(r)

    ths = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for x in ths:
        x.start()
    for x in ths:
        x.join()
    hold.commit()	# held about 1.5 s, under statement_timeout_ms
    hold.close()
    t.join()
    codes = [r["status"] for r in others]
    check("pool: requests behind the held connection answer 503 (%s)"
          % codes, codes == [503, 503, 503])
    check("pool: with Retry-After", all(r["retry_after"] for r in others))
    secs = sorted(r["secs"] for r in others)
    check("pool: after pool_acquire_timeout_ms, not at once, never a hang "
          "(%.2f .. %.2f s)" % (secs[0], secs[-1]),
          secs[0] >= 0.9 and secs[-1] <= ANSWER_WITHIN)
    check("pool: the held rotation completes once the lock goes (HTTP %s)"
          % out["rot"][0], out["rot"][0] == 201)
    back = wait_201(lambda: issue_short(c, other), 10)
    check("pool: recovers (%s)" % ("%.2f s" % back if back is not None
                                   else "never"), back is not None)
    invariants("pool")


# ------------------------------------------------ (e) read-only database

def admin_exec(sql):
    conn = psycopg2.connect(DB, options="-c default_transaction_read_only=off")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def case_readonly(args):
    cid, key = new_client("faults-readonly")
    c = Client()
    st, _, doc, _ = ready(lambda: issue_long(c, cid, key))
    st2, _, doc2, _ = ready(lambda: issue_short(c, doc["long_token"]))
    if not check("readonly: tokens to work with", st == 201 and st2 == 201):
        return
    bearer, short = doc["long_token"], doc2["access_token"]
    # A key failing its checksum is refused before the database: 401
    # even now, counted in memory without a client.  A well-formed wrong
    # key is checked in the database, without the row lock a read-only
    # transaction refuses (sql/015): 401 too, counted under its client.
    wrong = key[:-1] + ("0" if key[-1] != "0" else "1")
    nulls = ("SELECT coalesce(sum(count), 0) FROM token_events WHERE event "
             "= 'auth_failed' AND client_id IS NULL AND remote_addr = "
             "'127.0.0.1'")
    named = ("SELECT coalesce(sum(count), 0) FROM token_events WHERE event "
             "= 'auth_failed' AND client_id = %s")
    before = q1(nulls)
    before_named = q1(named, cid)
    admin_exec("ALTER SYSTEM SET default_transaction_read_only = on")
    admin_exec("SELECT pg_reload_conf()")
    time.sleep(0.5)
    try:
        rs = [record("short", issue_short(c, bearer)) for _ in range(3)]
        rs += [record("long", issue_long(c, cid, key)) for _ in range(2)]
        check("readonly: writes answer 503 (%s)" % [r["status"] for r in rs],
              all(r["status"] == 503 for r in rs))
        check("readonly: with Retry-After",
              all(r["retry_after"] for r in rs))
        st, _, d, _ = c.call("GET", "/healthz")
        check("readonly: /healthz 200 (%s)" % st, st == 200)
        st, h, d, _ = c.call("GET", "/readyz")
        check("readonly: /readyz 503 database read-only (%s %s)" % (st, d),
              st == 503 and d is not None and
              d.get("database") == "read-only" and "retry-after" in h)
        st, h, _, _ = revoke(c, bearer, doc2["token_id"])
        check("readonly: a revoke that cannot commit answers 503 (%s)" % st,
              st == 503 and "retry-after" in h)
        # New connections too: tokend's backends terminated, reconnected.
        admin_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE application_name = 'tokend'")
        rs = [record("short", issue_short(c, bearer)) for _ in range(8)]
        check("readonly: after reconnecting, writes still answer 503 (%s)"
              % [r["status"] for r in rs],
              all(r["status"] == 503 and r["retry_after"] for r in rs))
        seen = [c.call("GET", "/readyz")[2] for _ in range(8)]
        check("readonly: /readyz says read-only on new connections too (%s)"
              % seen[-1], (seen[-1] or {}).get("database") == "read-only")
        st, h, _, _ = revoke(c, short, doc2["token_id"])
        check("readonly: a revoke by the token itself answers 503 (%s)" % st,
              st == 503 and "retry-after" in h)
        codes = [issue_long(c, cid, wrong)[0] for _ in range(5)]
        check("readonly: wrong keys answer 401 (%s)" % codes,
              codes == [401] * 5)
        codes = [issue_long(c, cid, well_formed_like(key))[0]
                 for _ in range(3)]
        check("readonly: well-formed wrong keys of an existing client "
              "answer 401, not 503 (%s)" % codes, codes == [401] * 3)
        time.sleep(2.5)	# the flusher tries once a second meanwhile
        n = q1(nulls) - before + q1(named, cid) - before_named
        check("readonly: no auth_failed row while writes fail (%d)" % n,
              n == 0)
    finally:
        admin_exec("ALTER SYSTEM RESET default_transaction_read_only")
        admin_exec("SELECT pg_reload_conf()")
    back = wait_201(lambda: issue_short(c, bearer), 15)
    check("readonly: writes come back without a restart (%s)"
          % ("%.2f s" % back if back is not None else "never"),
          back is not None)
    t0, n = time.monotonic(), None
    while time.monotonic() - t0 < 10:
        n = q1(nulls) - before
        if n >= 5:
            break
        time.sleep(0.3)
    check("readonly: the failures kept in memory land as auth_failed rows "
          "(count %s of 5)" % n, n == 5)
    t0, m = time.monotonic(), None
    while time.monotonic() - t0 < 10:
        m = q1(named, cid) - before_named
        if m >= 3:
            break
        time.sleep(0.3)
    check("readonly: and those of the existing client under its id "
          "(count %s of 3)" % m, m == 3)
    st, _, d, _ = c.call("GET", "/readyz")
    check("readonly: /readyz 200 again (%s)" % st, st == 200)
    check("readonly: the token whose revoke failed still works",
          probe(c, short) == 404)
    n = q1("SELECT count(*) FROM revocations WHERE token_id = %s",
           doc2["token_id"])
    check("readonly: and has no revocation row (%d)" % n, n == 0)
    invariants("readonly")


# ------------------------------- (e2) a write that fails at its commit

COMMIT_FAULT = """
CREATE FUNCTION faults_fail_at_commit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'could not serialize access (injected at commit)'
        USING ERRCODE = 'serialization_failure';
END
$$;
CREATE CONSTRAINT TRIGGER faults_fail_at_commit
    AFTER INSERT ON revocations DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.request_id LIKE 'faults-commit-%%')
    EXECUTE FUNCTION faults_fail_at_commit();
CREATE CONSTRAINT TRIGGER faults_fail_at_commit
    AFTER INSERT ON tokens DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.label = 'faults-commit')
    EXECUTE FUNCTION faults_fail_at_commit();
"""


def case_commit(args):
    """The statement ran and returned its row; the commit failed after
    it (a deferred constraint here; a serialization failure under
    SERIALIZABLE is the same to the client).  Nothing was written, so
    nothing may answer 2xx."""
    cid, key = new_client("faults-commit")
    c = Client()
    st, _, doc, _ = ready(lambda: issue_long(c, cid, key))
    st2, _, doc2, _ = ready(lambda: issue_short(c, doc["long_token"]))
    if not check("commit: tokens to work with", st == 201 and st2 == 201):
        return
    admin_exec(COMMIT_FAULT.replace("%%", "%"))
    try:
        rs = []
        for i in range(4):
            rs.append(record("revoke", c.call(
                "POST", "/auth/tokens/%s/revoke" % doc2["token_id"],
                {"Authorization": "Bearer " + doc["long_token"],
                 "X-Request-Id": "faults-commit-%d" % i}, b"")))
        check("commit: a revoke whose commit fails answers 503, never 204 "
              "(%s)" % [r["status"] for r in rs],
              all(r["status"] == 503 for r in rs))
        check("commit: with Retry-After", all(r["retry_after"] for r in rs))
        n = q1("SELECT count(*) FROM revocations WHERE token_id = %s",
               doc2["token_id"])
        check("commit: no revocation row (%d)" % n, n == 0)
        check("commit: the token still works", probe(c, doc2["access_token"])
              == 404)
        rs = [record("long", issue_long(c, cid, key, label="faults-commit"))
              for _ in range(3)]
        check("commit: an issue whose commit fails answers 503, never 201 "
              "(%s)" % [r["status"] for r in rs],
              all(r["status"] == 503 for r in rs))
        n = q1("SELECT count(*) FROM tokens WHERE label = 'faults-commit'")
        check("commit: and left no token (%d)" % n, n == 0)
    finally:
        admin_exec("DROP TRIGGER faults_fail_at_commit ON revocations; "
                   "DROP TRIGGER faults_fail_at_commit ON tokens; "
                   "DROP FUNCTION faults_fail_at_commit()")
    st = revoke(c, doc["long_token"], doc2["token_id"])[0]
    check("commit: the same revoke answers 204 once commits succeed (%s)"
          % st, st == 204)
    check("commit: and the token is refused", probe(c, doc2["access_token"])
          == 401)
    invariants("commit")


# ------------------------------------- (f) expiry with the DB clock moved

def set_clock(path, target_epoch):
    """Move the database clock so that its now() is target_epoch now."""
    off = target_epoch - time.time()
    with open(path + ".new", "w") as f:
        f.write("%+.3f\n" % off)
    os.chmod(path + ".new", 0o644)
    os.replace(path + ".new", path)


def probe_at(c, path, target, token):
    """probe(token) with the database clock at target.  A 503 (a pool
    connection broken by the restart under libfaketime) is tried again,
    with the clock set again: it moves on meanwhile."""
    for _ in range(20):
        set_clock(path, target)
        st = probe(c, token)
        if st != 503:
            return st
        time.sleep(0.1)
    return st


def case_faketime(args):
    cid, key = new_client("faults-clock")
    c = Client()
    vu = lambda tid: q1("SELECT extract(epoch FROM valid_until)::bigint "
                        "FROM tokens WHERE id = %s", tid)
    dbnow = lambda: float(q1("SELECT extract(epoch FROM clock_timestamp())"))
    set_clock(args.file, time.time())
    st, _, l, _ = ready(lambda: issue_long(c, cid, key))
    if not check("clock: a long-term token (%s)" % st, st == 201):
        return
    st2, _, s, _ = ready(lambda: issue_short(c, l["long_token"],
                                             ttl_seconds=30))
    if not check("clock: a short-term token with a 30 s TTL",
                 st == 201 and st2 == 201 and s["expires_in"] == 30):
        return
    end = vu(s["token_id"])
    set_clock(args.file, end - 1)
    moved = dbnow()
    set_clock(args.file, end - 1)
    check("clock: the database clock moved (%.1f s before valid_until)"
          % (end - moved), 0.5 <= end - moved <= 1.5)
    st = probe_at(c, args.file, end - 1, s["access_token"])
    check("clock: short-term token 1 s before valid_until: accepted (%s)"
          % st, st == 404)
    st = probe_at(c, args.file, end + 1, s["access_token"])
    check("clock: short-term token 1 s after valid_until: 401 (%s)" % st,
          st == 401)
    check("clock: its parent is still accepted",
          probe_at(c, args.file, end + 1, l["long_token"]) == 404)

    set_clock(args.file, time.time())
    st, _, old, _ = ready(lambda: issue_long(c, cid, key))
    st2, _, new, _ = ready(lambda: rotate(c, cid, key, old["token_id"], overlap_seconds=20))
    if not check("clock: a long-term token rotated with a 20 s overlap",
                 st == 201 and st2 == 201):
        return
    end = vu(old["token_id"])
    st = probe_at(c, args.file, end - 1, old["long_token"])
    check("clock: rotated token 1 s before its overlap ends: accepted (%s)"
          % st, st == 404)
    set_clock(args.file, end + 1)
    st, h, d, _ = ready(lambda: issue_short(c, old["long_token"]), 5)
    check("clock: rotated token 1 s after its overlap ends: 401 "
          "invalid_token (%s %s)" % (st, (d or {}).get("error")),
          st == 401 and (d or {}).get("error") == "invalid_token" and
          'error="invalid_token"' in h.get("www-authenticate", ""))
    set_clock(args.file, time.time())
    invariants("clock")


# ---------------------------------------------------- (g) fork hygiene

def case_fork(args):
    cid, key = new_client("faults-fork")
    c = Client()
    bearers = []
    for _ in range(4):
        st, _, d, _ = ready(lambda: issue_long(c, cid, key))
        bearers.append(d)
    n, nthreads = args.n, 16
    results, lock = [], threading.Lock()

    def worker(i):
        cl = Client()
        mine = []
        for k in range(i, n, nthreads):
            if k % 2:
                mine.append(("short", issue_short(cl, bearers[k % 4]
                                                  ["long_token"])))
            else:
                mine.append(("long", issue_long(cl, cid, key)))
        cl.close()
        with lock:
            results.extend(mine)

    t0 = time.monotonic()
    ths = [threading.Thread(target=worker, args=(i,)) for i in range(nthreads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    secs = time.monotonic() - t0
    codes = {}
    for _, r in results:
        codes[r[0]] = codes.get(r[0], 0) + 1
    check("fork: %d tokens, all 201 (%s, %.1f s)" % (n, codes, secs),
          codes == {201: n})
    toks = [(r[2]["long_token"] if kind == "long" else r[2]["access_token"],
             r[2]["token_id"]) for kind, r in results if r[0] == 201]
    toks += [(b["long_token"], b["token_id"]) for b in bearers]
    strings = {t for t, _ in toks}
    ids = {i for _, i in toks}
    digests = {digest(t) for t, _ in toks}
    secrets = {secret_of(t) for t, _ in toks}
    check("fork: no duplicate token string (%d distinct of %d)"
          % (len(strings), len(toks)), len(strings) == len(toks))
    check("fork: no duplicate token_id (%d)" % len(ids), len(ids) == len(toks))
    check("fork: no duplicate secret digest (%d)" % len(digests),
          len(digests) == len(toks))
    check("fork: no duplicate random part (%d)" % len(secrets),
          len(secrets) == len(toks))
    rows = q("SELECT id::text, encode(digest, 'hex') FROM tokens "
             "WHERE client_id = %s", cid)
    want = {(i, digest(t)) for t, i in toks}
    check("fork: the rows in the database are the responses (%d rows, %d "
          "responses)" % (len(rows), len(want)), set(rows) == want)
    pids = set()
    if args.log:
        with open(args.log, errors="replace") as f:
            for line in f:
                if "client_id=" + cid in line and "status=201" in line:
                    pids.add(line.split(" pid=", 1)[1].split(" ", 1)[0])
        check("fork: the long-term tokens came from every worker (pids %s)"
              % " ".join(sorted(pids)), len(pids) >= args.workers)


# ---------------------------------------- (r) one family, 64 at once

def case_race(args):
    cid, key = new_client("faults-race")
    c = Client()
    st, _, l0, _ = issue_long(c, cid, key)
    if not check("race: the family's first token", st == 201):
        return
    a, a_id = l0["long_token"], l0["token_id"]
    n = args.n
    roles = ["rotate", "short", "rotate", "revoke", "rotate", "short"]
    conns = [Client() for _ in range(n)]
    for cl in conns:	# open every connection before the race
        cl.call("GET", "/healthz")
    barrier = threading.Barrier(n)
    out = [None] * n

    def racer(i):
        cl, role = conns[i], roles[i % len(roles)]
        if role == "rotate":
            req = ("/auth/tokens/long", dict(JSON, **{"X-Client-Key": key}),
                   json.dumps({"grant_type": "rotate", "client_id": cid,
                               "token_id": a_id}).encode())
        elif role == "short":
            req = ("/auth/tokens/short",
                   dict(JSON, Authorization="Bearer " + a), b"{}")
        else:
            req = ("/auth/tokens/%s/revoke" % a_id,
                   {"Authorization": "Bearer " + a}, b"")
        path, hdrs, body = req
        head = ["POST %s%s HTTP/1.1" % (cl.prefix, path),
                "Host: %s:%d" % (cl.host, cl.port),
                "Content-Length: %d" % len(body)]
        head += ["%s: %s" % kv for kv in hdrs.items()]
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        sock = cl.conn.sock
        try:
            # All but the last byte before the barrier: a request is
            # whole, and goes to tokend, only once that byte is sent.
            sock.sendall(data[:-1])
            barrier.wait()
            if role == "revoke":
                # As the in-process race does: the revocation a little
                # after the rest, so that both sides of it are seen.
                time.sleep(0.003)
            sock.sendall(data[-1:])
            sent = time.monotonic()
            r = http.client.HTTPResponse(sock, method="POST")
            r.begin()
            raw = r.read()
            st, doc = r.status, (json.loads(raw) if raw else None)
        except (OSError, ValueError, http.client.HTTPException,
                threading.BrokenBarrierError) as e:
            sent, st, doc = time.monotonic(), 0, {"error": str(e)}
        out[i] = (role, st, doc, sent, time.monotonic())

    ths = [threading.Thread(target=racer, args=(i,)) for i in range(n)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    for cl in conns:
        cl.close()
    # The most requests sent and not yet answered at one instant.
    edges = sorted([(o[3], 1) for o in out] + [(o[4], -1) for o in out])
    cur = best = 0
    for _, e in edges:
        cur += e
        best = max(best, cur)
    by = {}
    for role, st, _, _, _ in out:
        by.setdefault(role, {}).setdefault(st, 0)
        by[role][st] += 1
    note("race: %d requests on pre-opened connections: %s" % (n, by))
    check("race: %d in flight at once (at least 32)" % best, best >= 32)
    check("race: no 5xx and no transport error",
          all(isinstance(o[1], int) and 0 < o[1] < 500 for o in out))
    allowed = {"rotate": {201, 409}, "short": {201, 401},
               "revoke": {204, 401}}
    check("race: every answer is one the contract allows (%s)" % by,
          all(o[1] in allowed[o[0]] for o in out))
    check("race: the revocation committed (a 204)",
          by.get("revoke", {}).get(204, 0) >= 1)
    rot = [o[2]["token_id"] for o in out if o[0] == "rotate" and o[1] == 201]
    shorts = [o[2] for o in out if o[0] == "short" and o[1] == 201]
    check("race: the revoked token issues nothing afterwards",
          issue_short(c, a)[0] == 401)
    refused = [probe(c, s["access_token"]) for s in shorts]
    check("race: no child of the revoked token works (%d of %d refused)"
          % (refused.count(401), len(refused)),
          refused.count(401) == len(refused))
    found = q1("SELECT count(*) FROM tokens WHERE id = ANY(%s::uuid[])",
               rot + [s["token_id"] for s in shorts])
    check("race: every 201 is a committed row (%d of %d)"
          % (found, len(rot) + len(shorts)), found == len(rot) + len(shorts))
    issued = q1("SELECT count(*) FROM tokens WHERE parent_id = %s", a_id)
    check("race: the children in the database are the 201s (%d rows, %d "
          "answers)" % (issued, len(shorts)), issued == len(shorts))
    live = q1("SELECT count(*) FROM tokens t WHERE rotated_from = %s AND "
              "token_is_valid(t)", a_id)
    check("race: exactly one live successor of the rotated token (%d of %d "
          "successors)" % (live, len(rot)),
          live == (1 if rot else 0) and
          q1("SELECT count(*) FROM tokens WHERE rotated_from = %s", a_id)
          == len(rot))
    # The whole family revoked: it issues nothing.
    fam = q("SELECT id::text FROM tokens WHERE family_id = %s AND kind = "
            "'long'", a_id)
    if rot:
        succ = q1("SELECT id::text FROM tokens t WHERE rotated_from = %s "
                  "AND token_is_valid(t)", a_id)
        s_tok = [o[2]["long_token"] for o in out if o[0] == "rotate" and
                 o[1] == 201 and o[2]["token_id"] == succ][0]
        codes = {revoke(c, s_tok, f)[0] for (f,) in fam if f != succ}
        codes.add(revoke(c, s_tok, succ)[0])
        check("race: the rest of the family revoked (%s)" % codes,
              codes <= {204})
        codes = {issue_short(c, s_tok)[0]}
    else:
        # The revoke came first and every rotation answered 409: the
        # family is the one revoked token, whose revocation row is there.
        n = q1("SELECT count(*) FROM revocations WHERE token_id = %s", a_id)
        check("race: the rest of the family revoked (nothing but the "
              "token, revoked: %d row)" % n, fam == [(a_id,)] and n == 1)
        codes = {issue_short(c, a)[0]}
    codes |= {rotate(c, cid, key, f)[0] for (f,) in fam}
    check("race: a revoked family issues nothing (%s)" % codes,
          201 not in codes and codes <= {401, 409})
    valid = q1("SELECT count(*) FROM tokens t WHERE family_id = %s AND "
               "token_is_valid(t)", a_id)
    check("race: no token of the family is valid (%d)" % valid, valid == 0)
    invariants("race")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="case", required=True)
    p = sub.add_parser("restart")
    p.add_argument("--cmd", required=True)
    p = sub.add_parser("kill")
    p.add_argument("--kill", required=True)
    p.add_argument("--start", required=True)
    p = sub.add_parser("worker")
    p.add_argument("--victim", type=int, required=True)
    sub.add_parser("pool")
    sub.add_parser("readonly")
    sub.add_parser("commit")
    p = sub.add_parser("clock")
    p.add_argument("--file", required=True)
    p = sub.add_parser("fork")
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--log", default=None)
    p.add_argument("--workers", type=int, default=2)
    p = sub.add_parser("race")
    p.add_argument("--n", type=int, default=66)
    sub.add_parser("invariants")
    a = ap.parse_args()
    fn = {"restart": case_pg_restart, "kill": case_pg_kill,
          "worker": case_worker_kill, "pool": case_pool,
          "readonly": case_readonly, "commit": case_commit,
          "clock": case_faketime,
          "fork": case_fork, "race": case_race,
          "invariants": lambda _: invariants("end")}[a.case]
    try:
        fn(a)
    except Exception as e:	# a crash of the test is a failure, said once
        import traceback
        traceback.print_exc()
        check("%s: the case ran to its end" % a.case, False, repr(e))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
