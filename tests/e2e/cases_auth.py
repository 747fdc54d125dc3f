"""CONTRACT §4: who may do what — credentials, challenges, reach, tenants."""
import uuid

import tokfmt
from fx import (CH_BEARER, CH_BEARER_INVALID, CH_KEY, CH_KEY_INVALID, LONG, SHORT,
                bearer, bearer_valid, cc_body, eq, expect, issue_long, issue_short,
                key_hdr, revoke, revoke_path, rotate_bearer, rotate_key, same_answer)
from harness import test

ALL = ("read", "write", "admin", "tokend:rotate", "tokend:revoke")


def _client(ctx, **kw):
    kw.setdefault("scopes", ALL)
    kw.setdefault("default_scopes", ("read",))
    return ctx.clients.create(**kw)


@test("key: client_credentials issues a long-term token with its audit row")
def t_key_issue(ctx):
    a = _client(ctx)
    t = issue_long(ctx, a, label="e2e")
    eq(t["scope"], "read", "default scope")
    row = t["row"]
    eq(row["generation"], 0, "generation of a first token")
    eq(str(row["family_id"]), t["token_id"], "family_id of a first token")
    eq(row["label"], "e2e", "label")
    ev = ctx.db.events(token_id=t["token_id"], event="issued")
    assert len(ev) == 1, "want one issued event, got %r" % ev
    eq(ev[0]["request_id"], t["resp"].rid, "issued event request_id")
    eq(str(ev[0]["client_id"]), a["id"], "issued event client_id")


@test("key: wrong key, another client's key, unknown client, bad checksum, wrong kind, disabled client: one identical 401")
def t_key_bad(ctx):
    a, b, d = _client(ctx), _client(ctx), _client(ctx)
    ctx.clients.disable(d["id"])
    unknown = str(uuid.uuid4())
    cases = [
        ("wrong key", cc_body(a), tokfmt.mint("client", a["id"])),
        ("key of another client", cc_body(a), b["key"]),
        ("unknown client_id with a valid key", cc_body(a, client_id=unknown), a["key"]),
        ("key of an unknown client", cc_body(a, client_id=unknown), tokfmt.mint("client", unknown)),
        ("bad checksum", cc_body(a), tokfmt.change_one_char(a["key"])),
        ("long-term token as key", cc_body(a), tokfmt.mint("long", a["id"])),
        ("too short", cc_body(a), a["key"][:-1]),
        ("garbage", cc_body(a), "x"),
        ("disabled client", cc_body(d), d["key"]),
    ]
    first = None
    for what, body, key in cases:
        r = ctx.http.post(LONG, json_body=body, headers=key_hdr(key))
        expect(r, 401, "invalid_client", [CH_KEY_INVALID])
        if first is None:
            first = r
        else:
            same_answer(first, r, what)
    eq(ctx.db.val("SELECT count(*) FROM tokens WHERE client_id = ANY(%s::uuid[])",
                  ([a["id"], d["id"]],)), 0, "tokens issued")
    # The same with rotate: a bad key is a bad key whatever the grant.
    r = ctx.http.post(LONG, json_body={"grant_type": "rotate", "client_id": a["id"],
                                       "token_id": str(uuid.uuid4())},
                      headers=key_hdr(tokfmt.mint("client", a["id"])))
    same_answer(first, r, "rotate with a wrong key")


@test("key: an Authorization header is ignored on client_credentials")
def t_key_ignores_authz(ctx):
    a = _client(ctx)
    for authz in (["Bearer " + tokfmt.mint("long")], ["Bearer"], ["Basic dXNlcjpwYXNz"],
                  ["Bearer x", "Bearer y"], ["Bearer " + a["key"]]):
        issue_long(ctx, a, headers=[("Authorization", v) for v in authz])


@test("no credential on /long: 401, Bearer and ClientKey challenges without error=")
def t_long_no_cred(ctx):
    a = _client(ctx)
    for grant in ("client_credentials", "rotate"):
        for hdrs in ([], [("Authorization", "Basic dXNlcjpwYXNz")],
                     [("Authorization", "Digest username=\"x\"")]):
            r = ctx.http.post(LONG, json_body={"grant_type": grant, "client_id": a["id"]}, headers=hdrs)
            expect(r, 401, chall=[CH_BEARER, CH_KEY])
            assert r.json["error"] in ("invalid_client", "invalid_token"), r.brief()


@test("no credential on /short and revoke: 401, Bearer challenge without error=")
def t_short_no_cred(ctx):
    a = _client(ctx)
    for hdrs in ([], [("Authorization", "Basic dXNlcjpwYXNz")], [("X-Client-Key", a["key"])],
                 [("Authorization", "bearerx " + tokfmt.mint("long"))]):
        r = ctx.http.post(SHORT, body=b"", content_type=None, headers=hdrs)
        expect(r, 401, "invalid_token", [CH_BEARER])
        r = ctx.http.post(revoke_path(uuid.uuid4()), body=b"", content_type=None, headers=hdrs)
        expect(r, 401, "invalid_token", [CH_BEARER])


@test("/short: any other kind of token, or a bad one, is 401 invalid_token (one answer)")
def t_short_other_kinds(ctx):
    a = _client(ctx)
    lt = issue_long(ctx, a, scope="read tokend:rotate")
    st = issue_short(ctx, lt["token"], {"scope": "read tokend:rotate"})
    ref = issue_short(ctx, tokfmt.mint("long"), raw=True)        # unknown well-formed tkl_
    expect(ref, 401, "invalid_token", [CH_BEARER_INVALID])
    for what, tok in (("tks_", st["token"]), ("tkc_ client key", a["key"]),
                      ("bad checksum", tokfmt.change_one_char(lt["token"])),
                      ("tkl_ body of a tks_", "tkl_" + st["token"][4:]),
                      ("garbage", "abc")):
        r = issue_short(ctx, tok, raw=True)
        expect(r, 401, "invalid_token", [CH_BEARER_INVALID])
        same_answer(ref, r, what)


@test("auth scheme is case-insensitive: 'bearer' works like 'Bearer'")
def t_scheme_case(ctx):
    from fx import check_short
    a = _client(ctx)
    lt = issue_long(ctx, a)
    for scheme in ("bearer", "BEARER"):
        r = ctx.http.post(SHORT, body=b"", content_type=None,
                          headers=[("Authorization", scheme + " " + lt["token"])])
        check_short(ctx, r, lt["token"])


@test("revoke: tkc_ or malformed bearer is 401 invalid_token")
def t_revoke_bad_bearer(ctx):
    a = _client(ctx)
    lt = issue_long(ctx, a)
    for tok in (a["key"], tokfmt.change_one_char(lt["token"]), tokfmt.mint("short"), tokfmt.mint("long")):
        r = revoke(ctx, tok, lt["token_id"])
        expect(r, 401, "invalid_token", [CH_BEARER_INVALID])
    assert ctx.db.revocation(lt["token_id"]) is None, "token revoked by a bad bearer"


@test("empty or repeated Bearer: 400 invalid_request on /short, revoke and rotate")
def t_bearer_malformed(ctx):
    a = _client(ctx)
    lt = issue_long(ctx, a, scope="read tokend:rotate")
    st = issue_short(ctx, lt["token"], {"scope": "read tokend:rotate"})
    variants = [
        [("Authorization", "Bearer")],
        [("Authorization", "Bearer    ")],
        [("Authorization", "Bearer " + lt["token"]), ("Authorization", "Bearer " + lt["token"])],
        [("Authorization", "Bearer %s, Bearer %s" % (lt["token"], lt["token"]))],
    ]
    for hdrs in variants:
        r = ctx.http.post(SHORT, body=b"", content_type=None, headers=hdrs)
        expect(r, 400, "invalid_request")
        r = ctx.http.post(revoke_path(uuid.uuid4()), body=b"", content_type=None, headers=hdrs)
        expect(r, 400, "invalid_request")
    for hdrs in variants[:2] + [[("Authorization", "Bearer " + st["token"])] * 2]:
        r = ctx.http.post(LONG, json_body={"grant_type": "rotate", "client_id": a["id"]}, headers=hdrs)
        expect(r, 400, "invalid_request")
    assert ctx.db.token_row(lt["token_id"])["rotated_at"] is None, "rotated by a malformed request"


@test("rotate with a key: token_id required (400), the key path wins over a Bearer")
def t_rotate_key_path(ctx):
    a = _client(ctx)
    l1 = issue_long(ctx, a, scope="read tokend:rotate")
    l2 = issue_long(ctx, a, scope="read tokend:rotate")
    s1 = issue_short(ctx, l1["token"], {"scope": "read tokend:rotate"})
    r = ctx.http.post(LONG, json_body={"grant_type": "rotate", "client_id": a["id"]},
                      headers=key_hdr(a["key"]) + bearer(s1["token"]))
    expect(r, 400, "invalid_request")
    r = ctx.http.post(LONG, json_body={"grant_type": "rotate", "client_id": a["id"]},
                      headers=key_hdr(a["key"]))
    expect(r, 400, "invalid_request")
    assert ctx.db.token_row(l1["token_id"])["rotated_at"] is None, "l1 rotated"
    # Key + token_id of l2 + a Bearer whose parent is l1: l2 is rotated.
    r = ctx.http.post(LONG, json_body={"grant_type": "rotate", "client_id": a["id"],
                                       "token_id": l2["token_id"]},
                      headers=key_hdr(a["key"]) + bearer(s1["token"]))
    from fx import check_long
    check_long(ctx, r, a, rotated_from=l2["token_id"])
    assert ctx.db.token_row(l1["token_id"])["rotated_at"] is None, "the Bearer's parent was rotated"
    # A wrong key with a valid Bearer: the key path answers 401 invalid_client.
    r = ctx.http.post(LONG, json_body={"grant_type": "rotate", "client_id": a["id"],
                                       "token_id": l1["token_id"]},
                      headers=key_hdr(tokfmt.mint("client", a["id"])) + bearer(s1["token"]))
    expect(r, 401, "invalid_client", [CH_KEY_INVALID])


@test("rotate by short token with tokend:rotate: rotates its own parent; token_id must match")
def t_rotate_bearer(ctx):
    a = _client(ctx)
    l1 = issue_long(ctx, a, scope="read write tokend:rotate")
    l2 = issue_long(ctx, a, scope="read write tokend:rotate")
    s1 = issue_short(ctx, l1["token"], {"scope": "read tokend:rotate"})
    s2 = issue_short(ctx, l2["token"], {"scope": "tokend:rotate"})
    # token_id naming another long-term token of the same client: 400.
    r = rotate_bearer(ctx, a, s1["token"], token_id=l2["token_id"])
    expect(r, 400, "invalid_request")
    r = rotate_bearer(ctx, a, s1["token"], token_id=str(uuid.uuid4()))
    expect(r, 400, "invalid_request")
    for t in (l1, l2):
        assert ctx.db.token_row(t["token_id"])["rotated_at"] is None, "rotated by a refused request"
    # Without token_id: the parent.
    n1 = rotate_bearer(ctx, a, s1["token"], parent=l1["token_id"])
    eq(n1["rotated_from"], l1["token_id"], "rotated_from")
    eq(n1["scope"], "read write tokend:rotate", "scope of the successor (the old token's)")
    ev = ctx.db.events(token_id=n1["token_id"], event="rotated")
    assert len(ev) == 1, "want one rotated event, got %r" % ev
    eq(str(ev[0]["actor_id"]), s1["token_id"], "rotated event actor_id")
    eq(str(ev[0]["parent_id"]), l1["token_id"], "rotated event parent_id")
    # With token_id = its parent.
    n2 = rotate_bearer(ctx, a, s2["token"], parent=l2["token_id"], token_id=l2["token_id"])
    eq(n2["rotated_from"], l2["token_id"], "rotated_from")


@test("rotate by short token without tokend:rotate: 403 insufficient_scope, nothing rotated")
def t_rotate_bearer_403(ctx):
    a = _client(ctx)
    l1 = issue_long(ctx, a, scope="read write tokend:rotate tokend:revoke")
    s = issue_short(ctx, l1["token"])                      # default: no reserved scope
    eq(s["scope"], "read write", "default short scope")
    for st in (s, issue_short(ctx, l1["token"], {"scope": "tokend:revoke"})):
        r = rotate_bearer(ctx, a, st["token"])
        expect(r, 403, "insufficient_scope")
        r = rotate_bearer(ctx, a, st["token"], token_id=l1["token_id"])
        expect(r, 403, "insufficient_scope")
    assert ctx.db.token_row(l1["token_id"])["rotated_at"] is None, "rotated without tokend:rotate"


@test("rotate by Bearer: client_id of another client is 400; a tkl_ or tkc_ Bearer is 401")
def t_rotate_bearer_mismatch(ctx):
    a, b = _client(ctx), _client(ctx)
    l1 = issue_long(ctx, a, scope="read tokend:rotate")
    s1 = issue_short(ctx, l1["token"], {"scope": "read tokend:rotate"})
    for cid in (b["id"], str(uuid.uuid4())):
        r = ctx.http.post(LONG, json_body={"grant_type": "rotate", "client_id": cid},
                          headers=bearer(s1["token"]))
        expect(r, 400, "invalid_request")
    r = ctx.http.post(LONG, json_body={"grant_type": "rotate", "client_id": "not-a-uuid"},
                      headers=bearer(s1["token"]))
    expect(r, 400, "invalid_request")
    for tok in (l1["token"], a["key"]):
        r = ctx.http.post(LONG, json_body={"grant_type": "rotate", "client_id": a["id"]},
                          headers=bearer(tok))
        expect(r, 401, "invalid_token", [CH_BEARER_INVALID])
    assert ctx.db.token_row(l1["token_id"])["rotated_at"] is None, "rotated by a refused request"


@test("revoke reach: a long-term token revokes any token of its client")
def t_revoke_long_reach(ctx):
    a = _client(ctx)
    l1, l2 = issue_long(ctx, a), issue_long(ctx, a)
    s2 = issue_short(ctx, l2["token"])
    for target in (s2, l2, l1):
        r = revoke(ctx, l1["token"], target["token_id"])
        expect(r, 204)
        rev = ctx.db.revocation(target["token_id"])
        assert rev is not None, "no revocation row for %s" % target["token_id"]
        eq(rev["reason"], "requested", "reason")
        eq(str(rev["revoked_by"]), l1["token_id"], "revoked_by")
        eq(rev["request_id"], r.rid, "revocation request_id")
        ev = ctx.db.events(token_id=target["token_id"], event="revoked")
        eq(len(ev), 1, "revoked events")
        eq(ev[0]["request_id"], r.rid, "revoked event request_id")
    assert not bearer_valid(ctx, l1["token"]), "l1 valid after revoking itself"
    assert not bearer_valid(ctx, s2["token"]), "s2 valid after revocation"


@test("revoke reach: a short-term token revokes itself, its parent only with tokend:revoke, never siblings")
def t_revoke_short_reach(ctx):
    a = _client(ctx)
    lt = issue_long(ctx, a, scope="read write tokend:revoke")
    other = issue_long(ctx, a, scope="read")
    sa = issue_short(ctx, lt["token"])
    sb = issue_short(ctx, lt["token"])
    sr = issue_short(ctx, lt["token"], {"scope": "read tokend:revoke"})
    ref = revoke(ctx, sa["token"], uuid.uuid4())
    expect(ref, 404, "not_found")
    for who, target in ((sa, sb), (sa, lt), (sa, other), (sr, sb), (sr, other), (sb, sr)):
        r = revoke(ctx, who["token"], target["token_id"])
        expect(r, 404, "not_found")
        same_answer(ref, r, "out of reach vs unknown")
        assert ctx.db.revocation(target["token_id"]) is None, "out-of-reach token got a revocation row"
        assert target["token_id"] not in r.body.decode(), "404 echoes the id"
    r = revoke(ctx, sa["token"], sa["token_id"])
    expect(r, 204)
    eq(ctx.db.revocation(sa["token_id"])["reason"], "requested", "self revocation")
    r = revoke(ctx, sr["token"], lt["token_id"])
    expect(r, 204)
    rev = ctx.db.revocation(lt["token_id"])
    eq(rev["reason"], "requested", "parent revocation reason")
    eq(str(rev["revoked_by"]), sr["token_id"], "parent revoked_by")
    assert not bearer_valid(ctx, sb["token"]), "sibling still valid after its parent was revoked"
    assert not bearer_valid(ctx, lt["token"]), "parent still valid after revocation"
    assert ctx.db.revocation(sb["token_id"]) is None, "short token of a revoked parent got its own row"


@test("revoke: 204 when already revoked or expired but present; one row, the first reason")
def t_revoke_idempotent(ctx):
    a = _client(ctx)
    lt = issue_long(ctx, a)
    s1 = issue_short(ctx, lt["token"])
    s2 = issue_short(ctx, lt["token"], {"ttl_seconds": 1})
    r1 = revoke(ctx, lt["token"], s1["token_id"])
    expect(r1, 204)
    r2 = revoke(ctx, lt["token"], s1["token_id"])
    expect(r2, 204)
    eq(ctx.db.revocation(s1["token_id"])["request_id"], r1.rid, "the first revocation stays")
    eq(len(ctx.db.events(token_id=s1["token_id"], event="revoked")), 1, "revoked events")
    yield 2.1
    assert not ctx.db.is_valid(s2["token_id"]), "s2 not expired after 2 s"
    expect(revoke(ctx, lt["token"], s2["token_id"]), 204)


@test("revoke: tokenId not a UUID is 400; a body is ignored")
def t_revoke_bad_id(ctx):
    a = _client(ctx)
    lt = issue_long(ctx, a)
    s = issue_short(ctx, lt["token"])
    for bad in ("not-a-uuid", "1234", s["token_id"].replace("-", ""), s["token_id"] + "0",
                s["token_id"][:-1], "{%s}" % s["token_id"], "g" + s["token_id"][1:],
                s["token_id"] + "-" + s["token_id"]):
        r = ctx.http.post(revoke_path(bad), body=b"", content_type=None, headers=bearer(lt["token"]))
        expect(r, 400, "invalid_request")
    r = ctx.http.post(revoke_path(s["token_id"]), body=b"this is not json", content_type="text/plain",
                      headers=bearer(lt["token"]))
    expect(r, 204)
    assert ctx.db.revocation(s["token_id"]) is not None, "not revoked"


@test("revoke: a long tokenId (200 characters) is not a UUID either: 400, not 404")
def t_revoke_long_id(ctx):
    a = _client(ctx)
    lt = issue_long(ctx, a)
    for bad in ("a" * 129, "a" * 200, "0" * 500):
        r = ctx.http.post(revoke_path(bad), body=b"", content_type=None, headers=bearer(lt["token"]))
        expect(r, 400, "invalid_request")


@test("tenants: client A cannot revoke B's tokens (404 like unknown, no row)")
def t_tenant_revoke(ctx):
    a, b = _client(ctx), _client(ctx)
    la = issue_long(ctx, a, scope="read tokend:revoke")
    sa = issue_short(ctx, la["token"], {"scope": "tokend:revoke"})
    lb = issue_long(ctx, b)
    sb = issue_short(ctx, lb["token"])
    ref = revoke(ctx, la["token"], uuid.uuid4())
    for who in (la, sa):
        for target in (lb, sb):
            r = revoke(ctx, who["token"], target["token_id"])
            expect(r, 404, "not_found")
            same_answer(ref, r, "other tenant vs unknown")
            assert ctx.db.revocation(target["token_id"]) is None, "B's token got a revocation row"
    assert bearer_valid(ctx, lb["token"]) and bearer_valid(ctx, sb["token"]), "B's tokens hurt"


@test("tenants: client A cannot rotate B's token by id (404), nor act as B (401)")
def t_tenant_rotate(ctx):
    a, b = _client(ctx), _client(ctx)
    la = issue_long(ctx, a, scope="read tokend:rotate")
    sa = issue_short(ctx, la["token"], {"scope": "read tokend:rotate"})
    lb = issue_long(ctx, b)
    ref = rotate_key(ctx, a, str(uuid.uuid4()), raw=True)
    expect(ref, 404, "not_found")
    r = rotate_key(ctx, a, lb["token_id"], raw=True)
    expect(r, 404, "not_found")
    same_answer(ref, r, "B's token vs unknown")
    # A's key with B's client_id: the key does not belong to the client.
    r = ctx.http.post(LONG, json_body={"grant_type": "rotate", "client_id": b["id"],
                                       "token_id": lb["token_id"]}, headers=key_hdr(a["key"]))
    expect(r, 401, "invalid_client", [CH_KEY_INVALID])
    # A's short token naming B's token.
    r = rotate_bearer(ctx, a, sa["token"], token_id=lb["token_id"])
    expect(r, 400, "invalid_request")
    row = ctx.db.token_row(lb["token_id"])
    assert row["rotated_at"] is None, "B's token rotated"
    eq(ctx.db.val("SELECT count(*) FROM tokens WHERE family_id = %s", (row["family_id"],)), 1,
       "tokens in B's family")
    # Rotating a short-term token by id: not a long-term token of the client.
    sb = issue_short(ctx, la["token"])
    r = rotate_key(ctx, a, sb["token_id"], raw=True)
    expect(r, 404, "not_found")


@test("key: the previous key works until prev_key_valid_until")
def t_prev_key(ctx):
    import psycopg2
    a = _client(ctx)
    old = a["key"]
    new = tokfmt.mint("client", a["id"])
    ctx.db.exec("UPDATE clients SET prev_key_digest = key_digest, key_digest = %s, "
                "prev_key_valid_until = now() + interval '60 seconds' WHERE id = %s::uuid",
                (psycopg2.Binary(tokfmt.digest(new)), a["id"]))
    a["key"] = new          # the client's current key, for the digest check at the end
    issue_long(ctx, dict(a, key=old))
    issue_long(ctx, dict(a, key=new))
    ctx.db.exec("UPDATE clients SET prev_key_valid_until = now() - interval '1 second' "
                "WHERE id = %s::uuid", (a["id"],))
    r = ctx.http.post(LONG, json_body=cc_body(a), headers=key_hdr(old))
    expect(r, 401, "invalid_client", [CH_KEY_INVALID])
    issue_long(ctx, dict(a, key=new))
