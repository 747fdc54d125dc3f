"""Helpers shared by the test modules: requests, checks, probes."""
import datetime
import re
import uuid

import tokfmt

LONG = "/auth/tokens/long"
SHORT = "/auth/tokens/short"

CH_BEARER = 'Bearer realm="tokend"'
CH_KEY = 'ClientKey realm="tokend", header="X-Client-Key"'
CH_BEARER_INVALID = 'Bearer realm="tokend", error="invalid_token"'
CH_KEY_INVALID = 'ClientKey realm="tokend", header="X-Client-Key", error="invalid_client"'

TS_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
UTC = datetime.timezone.utc


def revoke_path(token_id):
    return "/auth/tokens/%s/revoke" % token_id


def ts(s):
    assert isinstance(s, str) and TS_RE.match(s), "timestamp %r is not YYYY-MM-DDTHH:MM:SSZ" % (s,)
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def eq(got, want, what=""):
    assert got == want, "%s: got %r, want %r" % (what or "value", got, want)


def secs(delta):
    return delta.total_seconds()


# -- challenges --------------------------------------------------------------
_SPLIT = re.compile(r",\s*(?=[!#$%&'*+.^_`|~0-9A-Za-z-]+\s+[!#$%&'*+.^_`|~0-9A-Za-z-]+=)")


def challenges(resp):
    """The WWW-Authenticate challenges, one string each, sorted (whether sent
    as several header lines or as one comma-joined line)."""
    out = []
    for v in resp.header_all("WWW-Authenticate"):
        out += [c.strip() for c in _SPLIT.split(v) if c.strip()]
    return sorted(out)


def expect(resp, status, error=None, chall=None, detail_has=None):
    """Assert status (and error code, exact challenges, a detail substring)."""
    assert resp.status == status, "want %d%s, got %s" % (
        status, " " + error if error else "", resp.brief())
    if error is not None:
        got = (resp.json or {}).get("error")
        assert got == error, "want error %s, got %s" % (error, resp.brief())
    if chall is not None:
        got = challenges(resp)
        assert got == sorted(chall), "WWW-Authenticate %r, want %r (%s)" % (got, sorted(chall), resp.brief())
    if detail_has is not None:
        d = (resp.json or {}).get("detail", "")
        assert detail_has in d, "detail %r does not mention %r" % (d, detail_has)
    return resp


def same_answer(r1, r2, what):
    """Two error answers identical but for the request id (body and challenge)."""
    assert r1.status == r2.status, "%s: status %d vs %d" % (what, r1.status, r2.status)
    assert r1.problem_sans_rid() == r2.problem_sans_rid(), "%s: bodies differ: %r vs %r" % (
        what, r1.problem_sans_rid(), r2.problem_sans_rid())
    assert challenges(r1) == challenges(r2), "%s: challenges differ: %r vs %r" % (
        what, challenges(r1), challenges(r2))


# -- requests --------------------------------------------------------------------
def key_hdr(key):
    return [("X-Client-Key", key)]


def bearer(tok):
    return [("Authorization", "Bearer " + tok)]


def cc_body(client, **kw):
    b = {"grant_type": "client_credentials", "client_id": client["id"]}
    b.update(kw)
    return b


def post_long(ctx, body, headers=(), **kw):
    return ctx.http.post(LONG, json_body=body, headers=list(headers), **kw)


def issue_long(ctx, client, headers=None, **kw):
    """client_credentials with the client's key; asserts 201 and checks it."""
    r = ctx.http.post(LONG, json_body=cc_body(client, **kw),
                      headers=key_hdr(client["key"]) + list(headers or []))
    return check_long(ctx, r, client)


def rotate_key(ctx, client, token_id, raw=False, key=None, **kw):
    body = {"grant_type": "rotate", "client_id": client["id"], "token_id": token_id}
    body.update(kw)
    r = ctx.http.post(LONG, json_body=body, headers=key_hdr(key or client["key"]))
    if raw:
        return r
    return check_long(ctx, r, client, rotated_from=token_id)


def rotate_bearer(ctx, client, short_tok, parent=None, **kw):
    """Rotation by a short-term Bearer.  With parent (the id the successor
    must be rotated from) the 201 is asserted and checked; else raw."""
    body = {"grant_type": "rotate", "client_id": client["id"]}
    body.update(kw)
    r = ctx.http.post(LONG, json_body=body, headers=bearer(short_tok))
    if parent is None:
        return r
    return check_long(ctx, r, client, rotated_from=parent)


def issue_short(ctx, long_tok, body=None, raw=False, headers=(), client=None):
    if body is None:
        r = ctx.http.post(SHORT, body=b"", headers=bearer(long_tok) + list(headers),
                          content_type=None)
    else:
        r = ctx.http.post(SHORT, json_body=body, headers=bearer(long_tok) + list(headers))
    if raw:
        return r
    return check_short(ctx, r, long_tok)


def revoke(ctx, bearer_tok, target_id, **kw):
    return ctx.http.post(revoke_path(target_id), body=b"", content_type=None,
                         headers=bearer(bearer_tok), **kw)


def bearer_valid(ctx, tok):
    """Is tok (tkl_/tks_) accepted as a credential right now?  Asked without
    side effects on a valid token: revoking an id nobody has answers 404 to a
    valid credential, 401 to an invalid one.  (A rotated long-term token past
    its overlap is reuse: the probe then revokes its family, as any use would.)"""
    r = revoke(ctx, tok, uuid.uuid4())
    if r.status == 404:
        return True
    if r.status == 401:
        expect(r, 401, "invalid_token", [CH_BEARER_INVALID])
        return False
    raise AssertionError("probe of a bearer: unexpected %s" % r.brief())


# -- answer checks --------------------------------------------------------------------
def scope_list(s):
    return [] if s == "" else s.split(" ")


def check_long(ctx, r, client, rotated_from=None):
    """A 201 of IssueLongTermToken: shape, token format, and the row it left."""
    assert r.status == 201, "want 201, got %s" % r.brief()
    j = dict(r.json)
    tok = j["long_token"]
    assert tokfmt.TOKEN_RE.match(tok), "long_token %r does not match the format" % tok
    prefix, tid = tokfmt.parse(tok)
    eq(prefix, "tkl_", "long_token prefix")
    eq(tid, j["token_id"], "id embedded in long_token")
    eq(j["token_type"], "long", "token_type")
    eq(j["client_id"], client["id"], "client_id")
    issued, expires = ts(j["issued_at"]), ts(j["expires_at"])
    assert expires > issued, "expires_at %s not after issued_at %s" % (expires, issued)
    eq(j["rotated_from"], rotated_from, "rotated_from")
    row = ctx.db.token_row(tid)
    assert row is not None, "no tokens row for %s" % tid
    eq(bytes(row["digest"]), tokfmt.digest(tok), "tokens.digest (sha256 of the token)")
    eq(row["kind"], "long", "tokens.kind")
    eq(str(row["client_id"]), client["id"], "tokens.client_id")
    eq(list(row["scope"]), scope_list(j["scope"]), "tokens.scope")
    eq(row["issued_at"], issued, "tokens.issued_at")
    eq(row["expires_at"], expires, "tokens.expires_at")
    eq(str(row["rotated_from"]) if row["rotated_from"] else None, rotated_from, "tokens.rotated_from")
    j["token"] = tok
    j["row"] = row
    j["resp"] = r
    ctx.issued.append(tok)
    return j


def check_short(ctx, r, long_tok):
    assert r.status == 201, "want 201, got %s" % r.brief()
    j = dict(r.json)
    tok = j["access_token"]
    assert tokfmt.TOKEN_RE.match(tok), "access_token %r does not match the format" % tok
    prefix, tid = tokfmt.parse(tok)
    eq(prefix, "tks_", "access_token prefix")
    eq(tid, j["token_id"], "id embedded in access_token")
    eq(j["token_type"], "Bearer", "token_type")
    eq(j["long_token_id"], tokfmt.parse(long_tok)[1], "long_token_id")
    expires = ts(j["expires_at"])
    assert isinstance(j["expires_in"], int) and not isinstance(j["expires_in"], bool), "expires_in %r" % j["expires_in"]
    row = ctx.db.token_row(tid)
    assert row is not None, "no tokens row for %s" % tid
    eq(bytes(row["digest"]), tokfmt.digest(tok), "tokens.digest (sha256 of the token)")
    eq(row["kind"], "short", "tokens.kind")
    eq(str(row["parent_id"]), j["long_token_id"], "tokens.parent_id")
    eq(list(row["scope"]), scope_list(j["scope"]), "tokens.scope")
    eq(row["expires_at"], expires, "tokens.expires_at")
    eq(secs(row["expires_at"] - row["issued_at"]), j["expires_in"], "expires_in vs expires_at - issued_at")
    j["token"] = tok
    j["row"] = row
    j["resp"] = r
    ctx.issued.append(tok)
    return j


def random_token(kind, tid=None):
    return tokfmt.mint(kind, tid or uuid.uuid4())
