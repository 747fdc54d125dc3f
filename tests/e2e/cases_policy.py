"""CONTRACT §2, §3, §7: token format, validity rule, scopes and TTLs."""
import tokfmt
from fx import (CH_BEARER_INVALID, CH_KEY_INVALID, LONG, SHORT, bearer, bearer_valid, cc_body, eq,
                expect, issue_long, issue_short, key_hdr, revoke, revoke_path, rotate_key, same_answer,
                secs, ts)
from harness import test

ALL = ("read", "write", "admin", "tokend:rotate", "tokend:revoke")


def _client(ctx, **kw):
    kw.setdefault("scopes", ALL)
    kw.setdefault("default_scopes", ("read",))
    return ctx.clients.create(**kw)


# -- scopes ------------------------------------------------------------------
@test("scope: de-duplicated, in the client's configured order")
def t_scope_order(ctx):
    a = _client(ctx, scopes=("write", "read", "admin", "tokend:rotate", "tokend:revoke"),
                default_scopes=("read", "write"))
    t = issue_long(ctx, a)
    eq(t["scope"], "write read", "default scope in client order")
    t = issue_long(ctx, a, scope="admin read admin write read")
    eq(t["scope"], "write read admin", "scope")
    s = issue_short(ctx, t["token"], {"scope": "admin write admin"})
    eq(s["scope"], "write admin", "short scope")
    t = issue_long(ctx, a, scope="tokend:revoke admin tokend:rotate")
    eq(t["scope"], "admin tokend:rotate tokend:revoke", "scope with reserved")


@test("scope: \"\" is the empty set; omitted is the default")
def t_scope_empty(ctx):
    a = _client(ctx)
    t = issue_long(ctx, a, scope="")
    eq(t["scope"], "", "scope")
    eq(list(t["row"]["scope"]), [], "stored scope")
    s = issue_short(ctx, t["token"])
    eq(s["scope"], "", "default short scope of an empty parent")
    s = issue_short(ctx, t["token"], {"scope": ""})
    eq(s["scope"], "", "short scope")
    r = issue_short(ctx, t["token"], {"scope": "read"}, raw=True)
    expect(r, 400, "invalid_scope")
    t = issue_long(ctx, a, scope="read write")
    eq(issue_short(ctx, t["token"], {"scope": ""})["scope"], "", "empty short scope")
    eq(issue_short(ctx, t["token"], {})["scope"], "read write", "default short scope")


@test("scope: reserved scopes only when asked for by name")
def t_scope_reserved(ctx):
    a = _client(ctx, default_scopes=("read", "write"))
    eq(issue_long(ctx, a)["scope"], "read write", "default long scope")
    t = issue_long(ctx, a, scope="read tokend:rotate tokend:revoke")
    eq(t["scope"], "read tokend:rotate tokend:revoke", "long scope")
    eq(issue_short(ctx, t["token"])["scope"], "read", "default short scope")
    eq(issue_short(ctx, t["token"], {})["scope"], "read", "default short scope ({})")
    eq(issue_short(ctx, t["token"], {"scope": "tokend:rotate"})["scope"], "tokend:rotate", "named")
    eq(issue_short(ctx, t["token"], {"scope": "tokend:revoke read"})["scope"], "read tokend:revoke",
       "named")
    # A client not granted a reserved scope cannot get it.
    c = _client(ctx, scopes=("read",), default_scopes=("read",))
    r = ctx.http.post(LONG, json_body=cc_body(c, scope="read tokend:rotate"), headers=key_hdr(c["key"]))
    expect(r, 400, "invalid_scope")


@test("scope: not a subset is 400 invalid_scope (key, short, rotate)")
def t_scope_subset(ctx):
    a = _client(ctx)
    for sc in ("delete", "read delete", "READ", "read write admin root"):
        r = ctx.http.post(LONG, json_body=cc_body(a, scope=sc), headers=key_hdr(a["key"]))
        expect(r, 400, "invalid_scope")
    t = issue_long(ctx, a, scope="read")
    r = issue_short(ctx, t["token"], {"scope": "read write"}, raw=True)
    expect(r, 400, "invalid_scope")
    r = rotate_key(ctx, a, t["token_id"], raw=True, scope="read write")
    expect(r, 400, "invalid_scope")
    assert ctx.db.token_row(t["token_id"])["rotated_at"] is None, "rotated by a refused request"
    eq(ctx.db.val("SELECT count(*) FROM tokens WHERE client_id = %s::uuid", (a["id"],)), 1,
       "tokens of the client")


@test("scope: at most 32 scope tokens of at most 64 bytes, RFC 6749 characters, single spaces")
def t_scope_syntax(ctx):
    many = ["s%02d" % i for i in range(40)] + ["x" * 64, "y" * 65, "a!#$%&'()*+,-./:;<=>?@[]^_`{|}~"]
    a = _client(ctx)
    # Odd scopes go in with SQL: tokenctl may rightly refuse them.
    ctx.clients.set_policy(a["id"], scopes=many, default_scopes=[])
    t = issue_long(ctx, a, scope=" ".join(many[:32]))
    eq(t["scope"], " ".join(many[:32]), "32 scopes")
    eq(issue_long(ctx, a, scope="x" * 64)["scope"], "x" * 64, "64-byte scope")
    eq(issue_long(ctx, a, scope=many[-1])["scope"], many[-1], "every allowed character")
    bad = [" ".join(many[:33]), "y" * 65, "s00  s01", " s00", "s00 ", "s00\ts01", 's0"0', "s0\\0",
           "s\u00e90", "s0\u00a00", "s0\x7f0", " "]
    for sc in bad:
        r = ctx.http.post(LONG, json_body=cc_body(a, scope=sc), headers=key_hdr(a["key"]))
        expect(r, 400, "invalid_request")
        r = issue_short(ctx, t["token"], {"scope": sc}, raw=True)
        expect(r, 400, "invalid_request")
    # Duplicates count after de-duplication? 33 items with a repeat are still
    # 33 scope tokens in the request: refused.
    r = ctx.http.post(LONG, json_body=cc_body(a, scope=" ".join(many[:32] + ["s00"])),
                      headers=key_hdr(a["key"]))
    if r.status != 400:
        # Either reading is defensible; say which one tokend took.
        eq(r.status, 201, "33 scope tokens with one repeat")


# -- TTLs ---------------------------------------------------------------------
@test("ttl: defaults, maxima, expires_at - issued_at == ttl_seconds")
def t_ttl(ctx):
    a = _client(ctx, long_ttl_default=500, long_ttl_max=1000, short_ttl_default=50,
                short_ttl_max=100, overlap_max=5)
    t = issue_long(ctx, a)
    eq(secs(ts(t["expires_at"]) - ts(t["issued_at"])), 500, "default long ttl")
    t = issue_long(ctx, a, ttl_seconds=1000)
    eq(secs(ts(t["expires_at"]) - ts(t["issued_at"])), 1000, "long ttl at the maximum")
    t1 = issue_long(ctx, a, ttl_seconds=1)
    eq(secs(ts(t1["expires_at"]) - ts(t1["issued_at"])), 1, "long ttl 1")
    for v in (1001, 2147483647):
        r = ctx.http.post(LONG, json_body=cc_body(a, ttl_seconds=v), headers=key_hdr(a["key"]))
        expect(r, 400, "invalid_request")
    for v in (0, -1, 2147483648):
        r = ctx.http.post(LONG, json_body=cc_body(a, ttl_seconds=v), headers=key_hdr(a["key"]))
        expect(r, 400, "invalid_request")
    s = issue_short(ctx, t["token"])
    eq(s["expires_in"], 50, "default short ttl")
    s = issue_short(ctx, t["token"], {"ttl_seconds": 100})
    eq(s["expires_in"], 100, "short ttl at the maximum")
    eq(secs(s["row"]["expires_at"] - s["row"]["issued_at"]), 100, "short expires - issued")
    for v in (101, 0, -3, 2147483648):
        r = issue_short(ctx, t["token"], {"ttl_seconds": v}, raw=True)
        expect(r, 400, "invalid_request")
    # Rotation: ttl and overlap against the maxima.
    for kw in ({"ttl_seconds": 1001}, {"overlap_seconds": 6}, {"overlap_seconds": -1},
               {"ttl_seconds": 0}):
        r = rotate_key(ctx, a, t["token_id"], raw=True, **kw)
        expect(r, 400, "invalid_request")
    assert ctx.db.token_row(t["token_id"])["rotated_at"] is None, "rotated by a refused request"
    n = rotate_key(ctx, a, t["token_id"], overlap_seconds=5, ttl_seconds=1000)
    eq(secs(ts(n["expires_at"]) - ts(n["issued_at"])), 1000, "successor ttl")
    eq(secs(ctx.db.token_row(t["token_id"])["overlap"]), 5, "overlap at the maximum")
    n2 = rotate_key(ctx, a, n["token_id"], overlap_seconds=1)
    eq(secs(ts(n2["expires_at"]) - ts(n2["issued_at"])), 500, "successor default ttl")


@test("ttl: the server's defaults (30 d long, 900 s short) for a client made with defaults")
def t_ttl_defaults(ctx):
    a = _client(ctx)
    t = issue_long(ctx, a)
    eq(secs(ts(t["expires_at"]) - ts(t["issued_at"])), 30 * 86400, "long default")
    eq(issue_short(ctx, t["token"])["expires_in"], 900, "short default")
    r = ctx.http.post(LONG, json_body=cc_body(a, ttl_seconds=90 * 86400 + 1), headers=key_hdr(a["key"]))
    expect(r, 400, "invalid_request")
    r = issue_short(ctx, t["token"], {"ttl_seconds": 3601}, raw=True)
    expect(r, 400, "invalid_request")


@test("timestamps: YYYY-MM-DDTHH:MM:SSZ, whole seconds, from the database clock")
def t_timestamps(ctx):
    a = _client(ctx)
    before = ctx.db.val("SELECT date_trunc('second', now())")
    t = issue_long(ctx, a)
    after = ctx.db.val("SELECT now()")
    issued = ts(t["issued_at"])
    assert before <= issued <= after, "issued_at %s not within [%s, %s]" % (issued, before, after)
    row = t["row"]
    for col in ("issued_at", "expires_at", "valid_until", "family_expires_at"):
        eq(row[col].microsecond, 0, "tokens.%s has a fraction" % col)
    s = issue_short(ctx, t["token"])
    eq(s["row"]["issued_at"].microsecond, 0, "short issued_at fraction")


@test("short-term expiry is clamped to the parent's valid_until; expires_in shows it")
def t_short_clamp(ctx):
    a = _client(ctx)
    t = issue_long(ctx, a, ttl_seconds=5)
    s = issue_short(ctx, t["token"])
    eq(s["expires_at"], t["expires_at"], "clamped expires_at")
    assert 0 < s["expires_in"] <= 5, "expires_in %r" % s["expires_in"]
    eq(s["row"]["expires_at"], ctx.db.token_row(t["token_id"])["valid_until"], "clamp to valid_until")
    s = issue_short(ctx, t["token"], {"ttl_seconds": 2})
    eq(s["expires_in"], 2, "short ttl below the parent's")


# -- token format --------------------------------------------------------------
@test("token format: one changed character is 401 like an unknown token, with no database work")
def t_changed_char(ctx):
    a = _client(ctx)
    t = issue_long(ctx, a)
    s = issue_short(ctx, t["token"])
    ref = issue_short(ctx, tokfmt.mint("long", t["token_id"]), raw=True)  # right id, wrong secret
    expect(ref, 401, "invalid_token", [CH_BEARER_INVALID])
    tok = t["token"]
    variants = {
        "body char": tokfmt.change_one_char(tok, 30),
        "check char": tokfmt.change_one_char(tok, 72),
        "id char": tokfmt.change_one_char(tok, 6),
        "prefix": "tkx_" + tok[4:],
        "short by one": tok[:-1],
        "long by one": tok + "0",
        "alphabet": tok[:40] + "-" + tok[41:],
        "upper-case prefix": "TKL_" + tok[4:],
    }
    rids = []
    # Sent from addresses of their own, so that the failure counts they
    # leave (CONTRACT §12) can be told apart.
    srcs = [ctx.http.new_source(), ctx.http.new_source()]
    for what, bad in variants.items():
        r = ctx.http.post(SHORT, body=b"", content_type=None, headers=bearer(bad), source=srcs[0])
        expect(r, 401, "invalid_token", [CH_BEARER_INVALID])
        same_answer(ref, r, what)
        rids.append(r.rid)
        r = ctx.http.post(revoke_path(s["token_id"]), body=b"", content_type=None, headers=bearer(bad),
                          source=srcs[1])
        expect(r, 401, "invalid_token", [CH_BEARER_INVALID])
        rids.append(r.rid)
    bad_key = tokfmt.change_one_char(a["key"])
    r = ctx.http.post(LONG, json_body=cc_body(a), headers=key_hdr(bad_key), source=srcs[1])
    expect(r, 401, "invalid_client", [CH_KEY_INVALID])
    rids.append(r.rid)
    assert ctx.db.revocation(s["token_id"]) is None, "revoked by a malformed bearer"
    yield 1.5       # past the once-a-second flush of failure counts
    n = ctx.db.val("SELECT count(*) FROM token_events WHERE request_id = ANY(%s) "
                   "OR detail::text LIKE ANY(%s)", (rids, ["%" + x + "%" for x in rids]))
    eq(n, 0, "audit rows of requests refused before any database access")
    if srcs[0] is not None:
        rows = ctx.db.all("SELECT remote_addr::text, client_id, count FROM token_events "
                          "WHERE event = 'auth_failed' AND remote_addr = ANY(%s::inet[])", (srcs,))
        # Counted in memory and flushed as counts (if at all): never a row
        # per request, never a client (that would take a lookup).
        assert sum(c for _, _, c in rows) <= len(rids), "auth_failed counts %r for %d requests" % (rows, len(rids))
        assert len(rows) <= 4, "auth_failed rows %r: one per request?" % (rows,)
        assert all(cid is None for _, cid, _ in rows), "auth_failed rows %r name a client" % (rows,)


# -- validity rule -----------------------------------------------------------------
@test("validity: revoking a long-term token ends its short-term tokens at once")
def t_cascade_revoke(ctx):
    a = _client(ctx)
    t = issue_long(ctx, a, scope="read tokend:rotate")
    s1 = issue_short(ctx, t["token"])
    s2 = issue_short(ctx, t["token"], {"scope": "tokend:rotate"})
    other = issue_long(ctx, a)
    assert bearer_valid(ctx, s1["token"]), "s1 not valid"
    expect(revoke(ctx, other["token"], t["token_id"]), 204)
    assert not bearer_valid(ctx, s1["token"]), "s1 valid after its parent's revocation"
    r = ctx.http.post(LONG, json_body={"grant_type": "rotate", "client_id": a["id"]},
                      headers=[("Authorization", "Bearer " + s2["token"])])
    expect(r, 401, "invalid_token", [CH_BEARER_INVALID])
    r = issue_short(ctx, t["token"], raw=True)
    expect(r, 401, "invalid_token", [CH_BEARER_INVALID])
    for x in (s1, s2):
        assert ctx.db.revocation(x["token_id"]) is None, "short token got a row of its own"
        assert not ctx.db.is_valid(x["token_id"]), "token_is_valid true for a short of a revoked parent"
    assert bearer_valid(ctx, other["token"]), "the other token hurt"


@test("validity: disabling the client ends every token and the key at once")
def t_cascade_disable(ctx):
    a = _client(ctx)
    t1 = issue_long(ctx, a)
    t2 = issue_long(ctx, a, scope="read tokend:rotate")
    s1 = issue_short(ctx, t1["token"])
    s2 = issue_short(ctx, t2["token"], {"scope": "tokend:rotate"})
    ref_key = ctx.http.post(LONG, json_body=cc_body(a), headers=key_hdr(tokfmt.mint("client", a["id"])))
    how = ctx.clients.disable(a["id"])
    for x in (t1, t2, s1, s2):
        assert not bearer_valid(ctx, x["token"]), "%s valid after disabling its client" % x["token_id"]
    expect(issue_short(ctx, t1["token"], raw=True), 401, "invalid_token", [CH_BEARER_INVALID])
    r = ctx.http.post(LONG, json_body={"grant_type": "rotate", "client_id": a["id"]},
                      headers=[("Authorization", "Bearer " + s2["token"])])
    expect(r, 401, "invalid_token", [CH_BEARER_INVALID])
    r = ctx.http.post(LONG, json_body=cc_body(a), headers=key_hdr(a["key"]))
    expect(r, 401, "invalid_client", [CH_KEY_INVALID])
    same_answer(ref_key, r, "disabled client vs wrong key")
    r = rotate_key(ctx, a, t1["token_id"], raw=True)
    expect(r, 401, "invalid_client", [CH_KEY_INVALID])
    if how == "tokenctl":
        for x in (t1, t2):
            rev = ctx.db.revocation(x["token_id"])
            assert rev and rev["reason"] == "client_disabled", "revocation of %s: %r" % (x["token_id"], rev)
        ctx.clients.enable(a["id"])
        for x in (t1, t2, s1, s2):
            assert not bearer_valid(ctx, x["token"]), "enable brought %s back" % x["token_id"]
        issue_long(ctx, a)


@test("validity: an expired long-term token is refused and cannot be rotated (409)")
def t_expired(ctx):
    a = _client(ctx)
    t = issue_long(ctx, a, ttl_seconds=2)      # at least 1 s left for the next request
    s = issue_short(ctx, t["token"])
    yield 2.2
    expect(issue_short(ctx, t["token"], raw=True), 401, "invalid_token", [CH_BEARER_INVALID])
    assert not bearer_valid(ctx, s["token"]), "short token outlived its parent"
    expect(rotate_key(ctx, a, t["token_id"], raw=True), 409, "conflict")
    assert ctx.db.revocation(t["token_id"]) is None, "an expired token got a revocation row"
