"""CONTRACT §6: rotation, overlap, supersession, reuse, family lifetime."""
import threading
import uuid

from fx import (CH_BEARER_INVALID, bearer_valid, check_long, eq, expect, issue_long, issue_short,
                revoke, rotate_bearer, rotate_key, same_answer, secs, ts)
from harness import test

ALL = ("read", "write", "admin", "tokend:rotate", "tokend:revoke")


def _client(ctx, **kw):
    kw.setdefault("scopes", ALL)
    kw.setdefault("default_scopes", ("read",))
    return ctx.clients.create(**kw)


def family_rows(ctx, family_id):
    return ctx.db.all(
        "SELECT t.id::text, t.generation, r.reason, r.request_id FROM tokens t "
        "LEFT JOIN revocations r ON r.token_id = t.id WHERE t.family_id = %s::uuid "
        "ORDER BY t.generation, t.issued_at", (str(family_id),))


def assert_reuse(ctx, resp, family_id, first_id):
    """resp was the reuse: 401, and every long-term token of the family has a
    reuse_detected row from that request, with one reuse_detected event."""
    expect(resp, 401, "invalid_token", [CH_BEARER_INVALID])
    rows = family_rows(ctx, family_id)
    assert len(rows) >= 2, "family rows %r" % rows
    for tid, gen, reason, rid in rows:
        eq(reason, "reuse_detected", "revocation reason of %s (generation %s)" % (tid, gen))
        eq(rid, resp.rid, "revocation request_id of %s" % tid)
    ev = ctx.db.events(event="reuse_detected", request_id=resp.rid)
    assert len(ev) == 1, "want one reuse_detected event, got %r" % ev
    eq(str(ev[0]["token_id"]), first_id, "reuse_detected event token_id")
    eq(str(ev[0]["family_id"]), str(family_id), "reuse_detected event family_id")


@test("rotate with key: successor in the family, rotated_from, overlap, label and scope defaults, audit")
def t_rotate_basic(ctx):
    a = _client(ctx)
    l0 = issue_long(ctx, a, scope="read write tokend:rotate", label="lab-\u00e9")
    n = rotate_key(ctx, a, l0["token_id"], overlap_seconds=30)
    eq(n["scope"], "read write tokend:rotate", "scope defaults to the old token's")
    old = ctx.db.token_row(l0["token_id"])
    new = n["row"]
    assert old["rotated_at"] is not None, "rotated_at not set"
    eq(secs(old["valid_until"] - old["rotated_at"]), 30, "overlap")
    eq(old["expires_at"], l0["row"]["expires_at"], "expires_at of the old token changed")
    eq(new["family_id"], old["family_id"], "family_id")
    eq(new["generation"], old["generation"] + 1, "generation")
    eq(new["label"], "lab-\u00e9", "label defaults to the old token's")
    eq(new["family_expires_at"], old["family_expires_at"], "family_expires_at")
    eq(ts(n["issued_at"]), old["rotated_at"], "issued_at of the successor == rotated_at")
    ev = ctx.db.events(token_id=n["token_id"], event="rotated")
    eq(len(ev), 1, "rotated events")
    eq(str(ev[0]["parent_id"]), l0["token_id"], "rotated event parent_id")
    eq(ev[0]["request_id"], n["resp"].rid, "rotated event request_id")
    assert ctx.db.revocation(l0["token_id"]) is None, "rotation wrote a revocation"
    # Both work during the overlap.
    issue_short(ctx, l0["token"])
    issue_short(ctx, n["token"])
    # Explicit label, scope subset, ttl.
    n2 = rotate_key(ctx, a, n["token_id"], label="other", scope="write", ttl_seconds=3600)
    eq(n2["row"]["label"], "other", "label")
    eq(n2["scope"], "write", "scope subset")
    eq(secs(ts(n2["expires_at"]) - ts(n2["issued_at"])), 3600, "ttl")
    n3 = rotate_key(ctx, a, n2["token_id"], scope="")
    eq(n3["scope"], "", "empty scope")
    # No label stays no label.
    m = issue_long(ctx, a)
    eq(rotate_key(ctx, a, m["token_id"])["row"]["label"], None, "label of a successor of an unlabelled token")
    # Revoking the old token during its overlap ends it, not its successor.
    expect(revoke(ctx, n3["token"], l0["token_id"]), 204)
    assert not bearer_valid(ctx, l0["token"]), "revoked old token still valid"
    assert bearer_valid(ctx, n["token"]), "successor hurt by revoking its predecessor"


@test("rotate: overlap defaults to rotation_grace_seconds")
def t_rotate_grace(ctx):
    a = _client(ctx)
    l0 = issue_long(ctx, a)
    rotate_key(ctx, a, l0["token_id"])
    row = ctx.db.token_row(l0["token_id"])
    eq(secs(row["valid_until"] - row["rotated_at"]), ctx.grace, "default overlap (TOKEND_ROTATION_GRACE)")


@test("rotate: the old token works during the overlap, then presenting it is reuse")
def t_rotate_overlap_then_reuse(ctx):
    a = _client(ctx)
    l0 = issue_long(ctx, a)
    s_before = issue_short(ctx, l0["token"])
    n = rotate_key(ctx, a, l0["token_id"], overlap_seconds=3)
    vu = ctx.db.token_row(l0["token_id"])["valid_until"]
    s_during = issue_short(ctx, l0["token"])           # the old one still works
    eq(s_during["row"]["expires_at"], vu, "short token of a rotated parent clamped to its valid_until")
    eq(s_during["expires_at"], vu.strftime("%Y-%m-%dT%H:%M:%SZ"), "expires_at")
    assert 0 < s_during["expires_in"] <= 3, "expires_in %r" % s_during["expires_in"]
    s_new = issue_short(ctx, n["token"])
    assert bearer_valid(ctx, s_before["token"]), "short token of the old parent ended early"
    yield 3.2
    # The overlap is over: short tokens of the old token end with it ...
    assert not bearer_valid(ctx, s_before["token"]), "short token outlived its parent's overlap"
    assert bearer_valid(ctx, s_new["token"]), "successor's short token hurt by the overlap end"
    # ... and presenting the old token now is reuse.
    r = issue_short(ctx, l0["token"], raw=True)
    assert_reuse(ctx, r, l0["row"]["family_id"], l0["token_id"])
    assert not bearer_valid(ctx, n["token"]), "successor valid after reuse"
    assert not bearer_valid(ctx, s_new["token"]), "successor's short token valid after reuse"


@test("rotate: overlap_seconds 0 ends the old token at once; using it is reuse; the family is revoked")
def t_rotate_zero_reuse(ctx):
    a = _client(ctx)
    l0 = issue_long(ctx, a, scope="read tokend:rotate")
    s0 = issue_short(ctx, l0["token"])
    n1 = rotate_key(ctx, a, l0["token_id"], overlap_seconds=0)
    row = ctx.db.token_row(l0["token_id"])
    eq(row["valid_until"], row["rotated_at"], "valid_until with overlap 0")
    s1 = issue_short(ctx, n1["token"], {"scope": "read tokend:rotate"})
    n2 = rotate_bearer(ctx, a, s1["token"], parent=n1["token_id"], overlap_seconds=30)
    s2 = issue_short(ctx, n2["token"])
    r = issue_short(ctx, l0["token"], raw=True)
    assert_reuse(ctx, r, l0["row"]["family_id"], l0["token_id"])
    for x in (n1, n2, s0, s1, s2):
        assert not bearer_valid(ctx, x["token"]), "%s valid after reuse" % x["token_id"]
    # Presenting it again: still 401, no second reuse event, rows unchanged.
    r2 = issue_short(ctx, l0["token"], raw=True)
    expect(r2, 401, "invalid_token", [CH_BEARER_INVALID])
    eq(len(ctx.db.events(event="reuse_detected", family_id=l0["row"]["family_id"])), 1,
       "reuse_detected events after a second presentation")


@test("rotate: reuse through revoke (LongTokenAuth) also revokes the family")
def t_reuse_via_revoke(ctx):
    a = _client(ctx)
    l0 = issue_long(ctx, a)
    n1 = rotate_key(ctx, a, l0["token_id"], overlap_seconds=0)
    r = revoke(ctx, l0["token"], uuid.uuid4())
    assert_reuse(ctx, r, l0["row"]["family_id"], l0["token_id"])
    assert not bearer_valid(ctx, n1["token"]), "successor valid after reuse"


@test("rotate: naming a token past its overlap under ClientKey is 409, not reuse")
def t_rotate_409(ctx):
    a = _client(ctx)
    l0 = issue_long(ctx, a)
    n1 = rotate_key(ctx, a, l0["token_id"], overlap_seconds=0)
    r = rotate_key(ctx, a, l0["token_id"], raw=True)
    expect(r, 409, "conflict")
    r = rotate_key(ctx, a, l0["token_id"], raw=True, overlap_seconds=0)
    expect(r, 409, "conflict")
    for tid, gen, reason, rid in family_rows(ctx, l0["row"]["family_id"]):
        eq(reason, None, "revocation of %s after a 409" % tid)
    eq(ctx.db.events(event="reuse_detected", family_id=l0["row"]["family_id"]), [], "reuse events")
    eq(ctx.db.val("SELECT count(*) FROM tokens WHERE family_id = %s", (l0["row"]["family_id"],)), 2,
       "tokens in the family")
    assert bearer_valid(ctx, n1["token"]), "successor hurt by a 409"
    # A revoked token: 409 as well.
    m = issue_long(ctx, a)
    expect(revoke(ctx, m["token"], m["token_id"]), 204)
    expect(rotate_key(ctx, a, m["token_id"], raw=True), 409, "conflict")


@test("rotate: again within the overlap issues a new successor and supersedes later tokens")
def t_rotate_supersede(ctx):
    a = _client(ctx)
    l0 = issue_long(ctx, a)
    n1 = rotate_key(ctx, a, l0["token_id"], overlap_seconds=60)
    s1 = issue_short(ctx, n1["token"])
    n1b = rotate_key(ctx, a, n1["token_id"], overlap_seconds=60)     # a grandchild
    vu = ctx.db.token_row(l0["token_id"])["valid_until"]
    n2 = rotate_key(ctx, a, l0["token_id"], overlap_seconds=30)
    eq(n2["rotated_from"], l0["token_id"], "rotated_from")
    eq(n2["row"]["generation"], 1, "generation of the new successor")
    for x in (n1, n1b):
        rev = ctx.db.revocation(x["token_id"])
        assert rev is not None and rev["reason"] == "superseded", "revocation of %s: %r" % (x["token_id"], rev)
        eq(rev["request_id"], n2["resp"].rid, "superseded request_id")
        ev = ctx.db.events(token_id=x["token_id"], event="superseded")
        eq(len(ev), 1, "superseded events of %s" % x["token_id"])
        assert not bearer_valid(ctx, x["token"]), "superseded token still valid"
    assert not bearer_valid(ctx, s1["token"]), "short token of a superseded token still valid"
    assert ctx.db.revocation(l0["token_id"]) is None, "the rotated token itself was revoked"
    assert bearer_valid(ctx, l0["token"]), "the old token ended before its overlap"
    assert bearer_valid(ctx, n2["token"]), "the new successor is not valid"
    assert ctx.db.token_row(l0["token_id"])["valid_until"] <= vu, "overlap extended by a second rotation"


@test("rotate: unknown token_id is 404 with a fixed body; a short-term id is not rotatable")
def t_rotate_404(ctx):
    a = _client(ctx)
    t = issue_long(ctx, a)
    s = issue_short(ctx, t["token"])
    r1 = rotate_key(ctx, a, str(uuid.uuid4()), raw=True)
    expect(r1, 404, "not_found")
    r2 = rotate_key(ctx, a, s["token_id"], raw=True)
    expect(r2, 404, "not_found")
    same_answer(r1, r2, "short id vs unknown")
    assert s["token_id"] not in r2.body.decode(), "404 echoes the id"


@test("rotate: family_max_seconds clamps the first token and every successor")
def t_family_max(ctx):
    a = _client(ctx, family_max_seconds=100, long_ttl_default=50)
    l0 = issue_long(ctx, a, ttl_seconds=1000)
    start = ts(l0["issued_at"])
    eq(secs(ts(l0["expires_at"]) - start), 100, "first token clamped to the family maximum")
    eq(secs(l0["row"]["family_expires_at"] - start), 100, "family_expires_at")
    n1 = rotate_key(ctx, a, l0["token_id"], ttl_seconds=1000)
    eq(ts(n1["expires_at"]), ts(l0["expires_at"]), "successor clamped to the family end")
    n2 = rotate_key(ctx, a, n1["token_id"], ttl_seconds=10)
    eq(secs(ts(n2["expires_at"]) - ts(n2["issued_at"])), 10, "short ttl within the family")
    n3 = rotate_key(ctx, a, n2["token_id"])
    assert ts(n3["expires_at"]) <= start + (ts(l0["expires_at"]) - start), "successor beyond the family end"


@test("rotate: a short-term token of a token past its overlap cannot rotate (401), and it is not reuse")
def t_rotate_short_of_ended(ctx):
    a = _client(ctx)
    l0 = issue_long(ctx, a, scope="read tokend:rotate")
    s0 = issue_short(ctx, l0["token"], {"scope": "tokend:rotate"})
    n1 = rotate_key(ctx, a, l0["token_id"], overlap_seconds=0)
    r = rotate_bearer(ctx, a, s0["token"])
    expect(r, 401, "invalid_token", [CH_BEARER_INVALID])
    for tid, gen, reason, rid in family_rows(ctx, l0["row"]["family_id"]):
        eq(reason, None, "revocation of %s" % tid)
    assert bearer_valid(ctx, n1["token"]), "successor hurt"


def _concurrent(ctx, n):
    a = _client(ctx)
    l0 = issue_long(ctx, a)
    results = [None] * n
    barrier = threading.Barrier(n)

    def worker(i):
        try:
            barrier.wait(timeout=10)
            results[i] = rotate_key(ctx, a, l0["token_id"], raw=True, overlap_seconds=60)
        except Exception as e:  # reported below
            results[i] = e
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for r in results:
        if isinstance(r, Exception):
            raise r
        check_long(ctx, r, a, rotated_from=l0["token_id"])
    live = ctx.db.all("SELECT t.id::text FROM tokens t WHERE t.rotated_from = %s::uuid "
                      "AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.token_id = t.id)",
                      (l0["token_id"],))
    eq(len(live), 1, "live successors after %d concurrent rotations" % n)
    sup = ctx.db.val("SELECT count(*) FROM tokens t JOIN revocations r ON r.token_id = t.id "
                     "WHERE t.rotated_from = %s::uuid AND r.reason = 'superseded'", (l0["token_id"],))
    eq(sup, n - 1, "superseded successors")
    winner = [r for r in results if r.json["token_id"] == live[0][0]]
    eq(len(winner), 1, "the live successor was answered")
    assert bearer_valid(ctx, winner[0].json["long_token"]), "live successor not valid"
    assert bearer_valid(ctx, l0["token"]), "old token ended during its overlap"


@test("rotate: concurrent rotations of one token each answer 201 and leave one live successor")
def t_concurrent(ctx):
    _concurrent(ctx, 6)


@test("rotate: 40 concurrent rotations, 3 rounds", full=True)
def t_concurrent_full(ctx):
    for _ in range(3):
        _concurrent(ctx, 40)
