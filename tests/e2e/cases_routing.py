"""CONTRACT §9 routing, 405 + Allow, and the X-Request-Id rules of §8."""
import json
import uuid

from fx import (LONG, SHORT, bearer, cc_body, check_long, check_short, eq, expect, issue_long,
                issue_short, key_hdr, revoke_path)
from harness import test
from tkclient import REQUEST_ID_RE

ALL = ("read", "write", "admin", "tokend:rotate", "tokend:revoke")


def _client(ctx, **kw):
    kw.setdefault("scopes", ALL)
    kw.setdefault("default_scopes", ("read",))
    return ctx.clients.create(**kw)


def raw(ctx, path):
    """An exact request target: base path + path, sent as is."""
    return "@" + ctx.http.base_path + path


@test("routing: the query string is ignored")
def t_query(ctx):
    a = _client(ctx)
    r = ctx.http.post(LONG + "?grant_type=rotate&x=%2F..", json_body=cc_body(a), headers=key_hdr(a["key"]))
    t = check_long(ctx, r, a)
    r = ctx.http.post(SHORT + "?", body=b"", content_type=None, headers=bearer(t["token"]))
    s = check_short(ctx, r, t["token"])
    r = ctx.http.post(revoke_path(s["token_id"]) + "?token_id=" + str(uuid.uuid4()), body=b"",
                      content_type=None, headers=bearer(t["token"]))
    expect(r, 204)
    assert ctx.db.revocation(s["token_id"]) is not None, "the path's token was not revoked"


@test("routing: unknown, off-boundary, %2F, %00, dot and empty segments are 404 not_found")
def t_404(ctx):
    a = _client(ctx)
    bp = ctx.http.base_path
    targets = [
        bp + "x/auth/tokens/long", bp + "/auth/tokens%2Flong", bp + "/auth/tokens%2flong",
        bp + "/auth%2Ftokens/long", bp + "/auth/tokens/long%00", bp + "/auth/tokens/%00long",
        bp + "/auth/tokens/../tokens/long", bp + "/auth/tokens/./long", bp + "/auth/../auth/tokens/long",
        bp + "/auth/tokens/%2e%2e/tokens/long", bp + "/auth/tokens/%2E/long",
        bp + "/auth//tokens/long", bp + "//auth/tokens/long", bp + "/auth/tokens/long/",
        bp + "/auth/tokens/long//", bp + "/auth/tokens/%256Cong", bp + "/auth/tokens/LONG",
        bp + "/auth/tokens/long/x", bp + "/auth/tokens", bp + "/auth/tokens/", bp, bp + "/",
        bp + "/auth/tokens/%ZZlong", bp + "/auth/tokens/long%", bp + "/auth/tokens/lon%6",
        bp + "/auth/tokens/%s/revoke/" % uuid.uuid4(), bp + "/auth/tokens/%s/revoke/x" % uuid.uuid4(),
        bp + "/auth/tokens/%s/REVOKE" % uuid.uuid4(), bp + "/auth/tokens//revoke",
        bp + "/auth/tokens/%s%%2Frevoke" % uuid.uuid4(), bp + "/v1/auth/tokens/long",
    ]
    for t in targets:
        r = ctx.http.request("POST", "@" + t, body=json.dumps(cc_body(a)),
                             headers=key_hdr(a["key"]), conformance=False, foreign_ok=True)
        if r.rid is None:
            # Refused by the web server in front (e.g. lighttpd's own 400/404);
            # tokend never saw it, which is fine as long as it is not a success.
            assert r.status in (400, 404), "%s: %s" % (t, r.brief())
            continue
        expect(r, 404, "not_found")
    eq(ctx.db.val("SELECT count(*) FROM tokens WHERE client_id = %s::uuid", (a["id"],)), 0,
       "tokens issued through a refused path")


@test("routing: percent-encoded segments are decoded once")
def t_decode_once(ctx):
    a = _client(ctx)
    bp = ctx.http.base_path
    r = ctx.http.request("POST", "@" + bp + "/auth/tokens/%6Cong", json_body=cc_body(a), headers=key_hdr(a["key"]))
    t = check_long(ctx, r, a)
    r = ctx.http.request("POST", "@" + bp + "/%61uth/%74okens/%73hort", body=b"", content_type=None,
                         headers=bearer(t["token"]))
    s = check_short(ctx, r, t["token"])
    enc = s["token_id"].replace("-", "%2D")
    r = ctx.http.request("POST", "@" + bp + "/auth/tokens/%s/revok%%65" % enc, body=b"", content_type=None,
                         headers=bearer(t["token"]))
    expect(r, 204)
    assert ctx.db.revocation(s["token_id"]) is not None, "not revoked"


@test("405: other methods answer 405 with Allow: POST")
def t_405(ctx):
    for path in (LONG, SHORT, revoke_path(uuid.uuid4()), revoke_path("not-a-uuid")):
        for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS"):
            body = b"{}" if method in ("PUT", "PATCH") else None
            r = ctx.http.request(method, path, body=body)
            expect(r, 405, "method_not_allowed")
            eq(r.header("Allow"), "POST", "Allow on %s %s" % (method, path))
    # An unknown path is 404 whatever the method.
    r = ctx.http.request("GET", "/auth/tokens/nope", conformance=False)
    expect(r, 404, "not_found")
    eq(r.header("Allow"), None, "Allow on a 404")


@test("X-Request-Id: echoed when 1-64 of [A-Za-z0-9._-], else a new one; same in the body")
def t_request_id(ctx):
    a = _client(ctx)
    ok_ids = ["a", "A.b_c-9", "x" * 64, "0123456789", "..", "-"]
    for rid in ok_ids:
        r = ctx.http.post(LONG, json_body=cc_body(a), rid=rid)          # 401, has a body
        eq(r.rid, rid, "echoed X-Request-Id")
        eq(r.json["request_id"], rid, "request_id in the body")
        r = ctx.http.post(LONG, json_body=cc_body(a), headers=key_hdr(a["key"]), rid=rid)
        eq(r.status, 201, r.brief())
        eq(r.rid, rid, "echoed X-Request-Id on a 201")
    seen = set()
    for rid in ("x" * 65, "a b", "a/b", "a+b", "a:b", "\u00e9", "a,b", "", "a\tb", "=", "a;b"):
        r = ctx.http.post(LONG, json_body=cc_body(a), rid=rid)
        assert r.rid and REQUEST_ID_RE.match(r.rid), "X-Request-Id %r for %r" % (r.rid, rid)
        assert r.rid != rid, "invalid X-Request-Id %r echoed" % rid
        eq(r.json["request_id"], r.rid, "request_id in the body")
        assert r.rid not in seen, "generated id %r repeated" % r.rid
        seen.add(r.rid)
    r = ctx.http.post(LONG, json_body=cc_body(a), rid=None)
    assert REQUEST_ID_RE.match(r.rid or ""), "no X-Request-Id generated: %r" % r.rid
    eq(r.json["request_id"], r.rid, "request_id in the body")
    # Two X-Request-Id headers are not one valid id.
    r = ctx.http.post(LONG, json_body=cc_body(a), rid=None,
                      headers=[("X-Request-Id", "one"), ("X-Request-Id", "two")])
    assert REQUEST_ID_RE.match(r.rid or ""), "X-Request-Id %r" % r.rid
    # The id of a 201 is the one in its audit row; of a 204 too.
    t = issue_long(ctx, a)
    eq(ctx.db.events(token_id=t["token_id"], event="issued")[0]["request_id"], t["resp"].rid, "audit request_id")
    s = issue_short(ctx, t["token"])
    r = ctx.http.post(revoke_path(s["token_id"]), body=b"", content_type=None, headers=bearer(t["token"]),
                      rid="revoke-" + s["token_id"])
    expect(r, 204)
    eq(r.rid, "revoke-" + s["token_id"], "X-Request-Id on a 204")
    eq(ctx.db.revocation(s["token_id"])["request_id"], r.rid, "revocation request_id")
