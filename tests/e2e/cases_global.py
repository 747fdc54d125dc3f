"""Whole-run checks (run last): errors covered, formats, secrets, log, 503, 429."""
import os
import re
import subprocess
import time
import uuid

import tokfmt
from fx import LONG, SHORT, bearer, cc_body, eq, expect, issue_long, key_hdr, revoke_path
from harness import Skip, test

REQUIRED_ERRORS = {
    (400, "invalid_request"), (400, "invalid_scope"), (400, "unsupported_grant_type"),
    (401, "invalid_client"), (401, "invalid_token"), (403, "insufficient_scope"),
    (404, "not_found"), (405, "method_not_allowed"), (409, "conflict"),
    (413, "payload_too_large"), (415, "unsupported_media_type"),
}


def _windows(tokens):
    """Substrings by which a token (or its hex) would be found in a text."""
    subs = set()
    for t in tokens:
        subs.add(t[10:30])
        subs.add(t[40:60])
        subs.add(t[10:30].encode().hex())
    return subs


def _find_secrets(text, subs):
    hits = [m.group(0) for m in tokfmt.TOKEN_SEARCH_RE.finditer(text)]
    for run in re.findall(r"[0-9A-Za-z]{20,}", text):
        for w in (20, 40):
            for i in range(0, len(run) - w + 1):
                if run[i:i + w] in subs:
                    hits.append(run)
                    break
    return hits


@test("503: the database stopped answers 503 service_unavailable with Retry-After", final=True)
def t_503(ctx):
    pgctl = os.environ.get("TOKEND_TEST_PGCTL")
    if os.environ.get("TOKEND_E2E_ALLOW_DB_STOP") != "1" or not pgctl:
        raise Skip("covered elsewhere (supervision tests); set TOKEND_E2E_ALLOW_DB_STOP=1 and "
                   "TOKEND_TEST_PGCTL to stop the database here")
    a = ctx.clients.create()
    t = issue_long(ctx, a)
    subprocess.run(["sh", "-c", pgctl + " stop"], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        checks = [
            ctx.http.post(LONG, json_body=cc_body(a), headers=key_hdr(a["key"])),
            ctx.http.post(SHORT, body=b"", content_type=None, headers=bearer(t["token"])),
            ctx.http.post(revoke_path(uuid.uuid4()), body=b"", content_type=None, headers=bearer(t["token"])),
        ]
        for r in checks:
            expect(r, 503, "service_unavailable")
            eq(r.header("Retry-After"), str(ctx.retry_after), "Retry-After")
        # What needs no database still answers as before.
        expect(ctx.http.post(LONG, body=b"{", headers=key_hdr(a["key"])), 400, "invalid_request")
        expect(ctx.http.post(SHORT, body=b"", content_type=None,
                             headers=bearer(tokfmt.change_one_char(t["token"]))), 401, "invalid_token")
    finally:
        subprocess.run(["sh", "-c", pgctl + " start"], check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Recovery: every pooled connection meets the restart once (a 503 is
    # allowed then: the contract lets any request answer 503 when its
    # connection was lost); then ten answers in a row must be 201.
    deadline = time.monotonic() + 30
    in_a_row = after_restart_503 = 0
    while in_a_row < 10:
        r = ctx.http.post(LONG, json_body=cc_body(a), headers=key_hdr(a["key"]))
        if r.status == 201:
            in_a_row += 1
            continue
        assert r.status == 503, "after restart: %s" % r.brief()
        in_a_row = 0
        after_restart_503 += 1
        assert time.monotonic() < deadline, "tokend did not recover within 30 s"
        yield 0.2
    ctx.note("# 503: %d answers 503 after the database came back, before ten 201 in a row" % after_restart_503)
    ctx.db.reconnect()


@test("429: past the failure budget an address gets 429 with Retry-After; one auth_failed row per second")
def t_429(ctx):
    if not ctx.http.loopback:
        raise Skip("needs tokend reached over loopback (the suite sends from several 127.x addresses)")
    budget = ctx.http.budget
    a = ctx.clients.create()
    addr = ctx.http.new_source()
    wrong = tokfmt.mint("client", a["id"])
    first_429 = None
    for i in range(budget + 1):
        r = ctx.http.post(LONG, json_body=cc_body(a), headers=key_hdr(wrong), source=addr)
        if r.status == 429:
            first_429 = i
            break
        expect(r, 401, "invalid_client")
    if first_429 is None:
        raise Skip("not implemented by this tokend: no 429 after %d failed authentications "
                   "(TOKEND_RATE_LIMIT_BUDGET=%d)" % (budget + 1, budget))
    eq(first_429, budget, "failures before the first 429")
    expect(r, 429, "too_many_requests")
    eq(r.header("Retry-After"), str(ctx.retry_after), "Retry-After")
    # The address is limited, whatever the credential ...
    r = ctx.http.post(LONG, json_body=cc_body(a), headers=key_hdr(a["key"]), source=addr)
    expect(r, 429, "too_many_requests")
    eq(r.header("Retry-After"), str(ctx.retry_after), "Retry-After")
    # ... and only the address: the client is not.
    issue_long(ctx, a)
    # The failures reach the audit trail as counts, not one row each.
    yield 2.5
    rows = ctx.db.all("SELECT client_id::text, count FROM token_events WHERE event = 'auth_failed' "
                      "AND remote_addr = %s::inet", (addr,))
    total = sum(c for _, c in rows)
    assert total >= budget, "auth_failed counts %r for %s, want at least %d" % (rows, addr, budget)
    assert len(rows) < budget // 2, "auth_failed rows %r: not counted, one row per failure?" % (rows,)
    assert all(cid == a["id"] for cid, _ in rows), "auth_failed rows %r without the client %s" % (rows, a["id"])


@test("errors: every error of CONTRACT §8 was seen with its status", final=True)
def t_errors_seen(ctx):
    missing = REQUIRED_ERRORS - ctx.http.errors_seen
    assert not missing, "never seen: %s" % sorted(missing)


@test("token format: every token issued matches ^tk[lsc]_[0-9A-Za-z]{71}$ with a valid checksum", final=True)
def t_formats(ctx):
    assert ctx.issued, "no tokens issued"
    for t in ctx.issued:
        assert tokfmt.TOKEN_RE.match(t), "%s... does not match" % t[:8]
        tokfmt.parse(t)
    ids = [tokfmt.parse(t)[1] for t in ctx.issued]
    eq(len(set(ids)), len(ids), "distinct token ids")
    eq(len(set(ctx.issued)), len(ctx.issued), "distinct tokens")


@test("secrets: no token or key in any table; stored digests are SHA-256 of the token", final=True)
def t_secrets_db(ctx):
    ids = {tokfmt.parse(t)[1]: t for t in ctx.issued}
    rows = ctx.db.all("SELECT id::text, digest FROM tokens WHERE id = ANY(%s::uuid[])", (list(ids),))
    eq(len(rows), len(ids), "rows of the issued tokens")
    for tid, dig in rows:
        eq(bytes(dig), tokfmt.digest(ids[tid]), "digest of %s" % tid)
    for c in ctx.clients.created:
        if c["key"] is None:
            continue
        dig = ctx.db.val("SELECT key_digest FROM clients WHERE id = %s::uuid", (c["id"],))
        eq(bytes(dig), tokfmt.digest(c["key"]), "key_digest of client %s" % c["id"])
    secrets = set(ctx.issued) | {c["key"] for c in ctx.clients.created if c["key"]}
    subs = _windows(secrets)
    tables = [r[0] for r in ctx.db.all(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'")]
    assert tables, "no tables"
    for table in tables:
        for (text,) in ctx.db.all("SELECT t::text FROM %s t" % table):
            hits = _find_secrets(text or "", subs)
            assert not hits, "%s holds a secret: %s..." % (table, hits[0][:12])


@test("log: tokend's log holds no token, and names every request id", final=True)
def t_log(ctx):
    if not ctx.log_path:
        raise Skip("TOKEND_LOG not set")
    yield 0.5      # let the last lines reach the file
    with open(ctx.log_path, "rb") as f:
        f.seek(ctx.log_offset)
        text = f.read().decode("utf-8", "replace")
    secrets = set(ctx.issued) | set(ctx.http.tokens_seen) | {c["key"] for c in ctx.clients.created if c["key"]}
    hits = _find_secrets(text, _windows(secrets))
    assert not hits, "the log holds a secret: %s..." % hits[0][:12]
    missing = [rid for rid in ctx.http.request_ids if rid not in text]
    assert not missing, "%d of %d request ids not in the log, e.g. %s" % (
        len(missing), len(ctx.http.request_ids), missing[:3])


@test("openapi: responses were validated against openapi.yaml", final=True)
def t_openapi(ctx):
    ctx.note("# openapi: %d responses validated, %d outside the spec (unknown paths) skipped"
             % (ctx.http.conformance_checked, ctx.http.conformance_skipped))
    assert ctx.http.conformance_checked > 50, "only %d responses validated" % ctx.http.conformance_checked
