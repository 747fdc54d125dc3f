"""CONTRACT §8: strict JSON, media types, body size, and the check order."""
import json
import uuid

import tokfmt
from fx import (CH_BEARER, CH_BEARER_INVALID, CH_KEY, CH_KEY_INVALID, LONG, SHORT, bearer,
                check_long, check_short, eq, expect, issue_long, key_hdr, revoke_path)
from harness import test

ALL = ("read", "write", "admin", "tokend:rotate", "tokend:revoke")


def _client(ctx, **kw):
    kw.setdefault("scopes", ALL)
    kw.setdefault("default_scopes", ("read",))
    return ctx.clients.create(**kw)


def long_body(client, extra=b""):
    """Raw bytes of a client_credentials body with `extra` members appended."""
    head = ('{"grant_type":"client_credentials","client_id":"%s"' % client["id"]).encode()
    if extra:
        head += b"," + extra
    return head + b"}"


def post_raw(ctx, path, body, headers=(), content_type="application/json", **kw):
    return ctx.http.post(path, body=body, headers=list(headers), content_type=content_type, **kw)


def refused(ctx, client, extras, what, path=LONG, token=None):
    """Each body of extras answers 400 invalid_request (nothing issued)."""
    before = ctx.db.val("SELECT count(*) FROM tokens WHERE client_id = %s::uuid", (client["id"],))
    for extra in extras:
        if path == LONG:
            body = extra if extra.startswith(b"{") else long_body(client, extra)
            r = post_raw(ctx, LONG, body, key_hdr(client["key"]))
        else:
            r = post_raw(ctx, SHORT, extra, bearer(token))
        assert r.status == 400 and (r.json or {}).get("error") == "invalid_request", \
            "%s: body %r: want 400 invalid_request, got %s" % (what, extra, r.brief())
    after = ctx.db.val("SELECT count(*) FROM tokens WHERE client_id = %s::uuid", (client["id"],))
    eq(after, before, "%s: tokens issued by refused requests" % what)


def accepted(ctx, client, extra):
    r = post_raw(ctx, LONG, long_body(client, extra), key_hdr(client["key"]))
    return check_long(ctx, r, client)


@test("json: NaN, Infinity and other non-JSON numbers are refused")
def t_nan(ctx):
    a = _client(ctx)
    refused(ctx, a, [b'"ttl_seconds":NaN', b'"ttl_seconds":Infinity', b'"ttl_seconds":-Infinity',
                     b'"ttl_seconds":+5', b'"ttl_seconds":05', b'"ttl_seconds":0x10', b'"ttl_seconds":.5',
                     b'"ttl_seconds":5.', b'"ttl_seconds":nan', b'"ttl_seconds":-'], "numbers")


@test("json: duplicate member names are refused, however they are spelled")
def t_duplicates(ctx):
    a = _client(ctx)
    refused(ctx, a, [b'"scope":"read","scope":"write"', b'"scope":"read","sc\\u006fpe":"admin"',
                     b'"client_id":"%s"' % a["id"].encode(), b'"label":"a","label":"a"'], "duplicates")
    lt = issue_long(ctx, a, scope="read write")
    refused(ctx, a, [b'{"scope":"read","scope":"write"}', b'{"ttl_seconds":5,"ttl_seconds":6}'],
            "duplicates on /short", path=SHORT, token=lt["token"])


@test("json: \\u0000 is refused, in member names and in values")
def t_nul_escape(ctx):
    a = _client(ctx, scopes=("read", "admin"), default_scopes=("read",))
    refused(ctx, a, [b'"scope":"read","scope\\u0000x":"admin"', b'"label":"a\\u0000b"',
                     b'"scope\\u0000":"admin"', b'"label\\u0000":"x"'], "\\u0000")
    lt = issue_long(ctx, a, scope="read admin")
    refused(ctx, a, [b'{"scope":"read","scope\\u0000x":"admin"}', b'{"audience":"\\u0000"}'],
            "\\u0000 on /short", path=SHORT, token=lt["token"])


@test("json: invalid UTF-8 is refused (overlong, surrogates, above U+10FFFF, stray bytes)")
def t_utf8(ctx):
    a = _client(ctx)
    bad = [b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf", b"\xed\xa0\x80",
           b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\x80", b"\xe2\x82",
           b"\xe2\x28\xa1", b"\xf0\x9f\x98"]
    refused(ctx, a, [b'"label":"x' + x + b'y"' for x in bad], "raw UTF-8 in a value")
    refused(ctx, a, [b'"lab' + x + b'el":"x"' for x in bad[:4]], "raw UTF-8 in a member name")
    refused(ctx, a, [b'"label":"\\ud800"', b'"label":"\\udc00"', b'"label":"\\ud800\\u0041"',
                     b'"label":"\\ud83d"', b'"label":"\\ude00\\ud83d"', b'"label":"\\uD800x"'],
            "escaped surrogates")
    t = accepted(ctx, a, b'"label":"\\ud83d\\ude00 \xf0\x9f\x98\x80 \xc3\xa9 \\u00e9 \xef\xbf\xbf"')
    eq(t["row"]["label"], "\U0001F600 \U0001F600 \u00e9 \u00e9 \uffff", "label decoded")
    lt = issue_long(ctx, a)
    refused(ctx, a, [b'{"audience":"\xc0\xaf"}', b'{"audience":"\\udfff"}'], "UTF-8 on /short",
            path=SHORT, token=lt["token"])


@test("json: control characters are refused, raw or escaped")
def t_controls(ctx):
    a = _client(ctx)
    refused(ctx, a, [b'"label":"a\x01b"', b'"label":"a\nb"', b'"label":"a\tb"', b'"label":"\x1f"',
                     b'"label":"a\\u0001b"', b'"label":"a\\nb"', b'"label":"a\\tb"', b'"label":"\\u001f"',
                     b'"label":"a\x00b"'], "controls")
    t = accepted(ctx, a, b'"label":"tab-free \\" \\\\ \\/ ok"')
    eq(t["row"]["label"], 'tab-free " \\ / ok', "label with escapes")
    # DEL and C1 controls are not C0: allowed.
    t = accepted(ctx, a, b'"label":"a\x7fb\xc2\x85c\\u0080"')
    eq(t["row"]["label"], "a\x7fb\x85c\x80", "label with DEL and C1 characters")


@test("json: data after the document is refused; whitespace is not")
def t_trailing(ctx):
    a = _client(ctx)
    body = long_body(a)
    for tail in (b" x", b"{}", b"\x00", b"\x00garbage", b",", b"]", b"}", b"\n{}", b" 1", b"\xef\xbb\xbf"):
        r = post_raw(ctx, LONG, body + tail, key_hdr(a["key"]))
        expect(r, 400, "invalid_request")
    for tail in (b" ", b"\n", b"\r\n\t "):
        check_long(ctx, post_raw(ctx, LONG, body + tail, key_hdr(a["key"])), a)
    check_long(ctx, post_raw(ctx, LONG, b" \n" + body, key_hdr(a["key"])), a)
    lt = issue_long(ctx, a)
    for raw in (b"{} x", b"{}\x00", b"{}{}"):
        expect(post_raw(ctx, SHORT, raw, bearer(lt["token"])), 400, "invalid_request")


@test("json: an unknown member is refused and named in the detail")
def t_unknown_member(ctx):
    a = _client(ctx)
    r = post_raw(ctx, LONG, long_body(a, b'"scopes":"read"'), key_hdr(a["key"]))
    expect(r, 400, "invalid_request", detail_has="scopes")
    r = post_raw(ctx, LONG, long_body(a, b'"audience":"x"'), key_hdr(a["key"]))
    expect(r, 400, "invalid_request", detail_has="audience")
    lt = issue_long(ctx, a)
    r = post_raw(ctx, SHORT, b'{"frobnicate":1}', bearer(lt["token"]))
    expect(r, 400, "invalid_request", detail_has="frobnicate")
    r = post_raw(ctx, SHORT, b'{"label":"x"}', bearer(lt["token"]))
    expect(r, 400, "invalid_request", detail_has="label")


@test("json: null and other wrong types are refused")
def t_types(ctx):
    a = _client(ctx)
    refused(ctx, a, [b'"label":null', b'"scope":null', b'"ttl_seconds":null', b'"label":5',
                     b'"scope":["read"]', b'"ttl_seconds":"60"', b'"ttl_seconds":true', b'"label":{}',
                     b'"scope":{"a":1}', b'"ttl_seconds":[60]'], "types")
    refused(ctx, a, [b'{"grant_type":null,"client_id":"%s"}' % a["id"].encode(),
                     b'{"grant_type":"client_credentials","client_id":null}',
                     b'{"grant_type":1,"client_id":"%s"}' % a["id"].encode(),
                     b'{"grant_type":["client_credentials"],"client_id":"%s"}' % a["id"].encode(),
                     b'{"grant_type":"client_credentials"}',
                     b'{"client_id":"%s"}' % a["id"].encode(),
                     b'{"grant_type":"client_credentials","client_id":"%s"}' % a["id"][:-1].encode(),
                     b'{"grant_type":"client_credentials","client_id":"not-a-uuid"}',
                     b'{"grant_type":"client_credentials","client_id":"%s"}' % a["id"].replace("-", "").encode()],
            "required members")
    lt = issue_long(ctx, a)
    refused(ctx, a, [b'{"scope":null}', b'{"ttl_seconds":null}', b'{"audience":null}', b'{"audience":1}'],
            "types on /short", path=SHORT, token=lt["token"])


@test("json: unknown grant_type is 400 unsupported_grant_type")
def t_grant(ctx):
    a = _client(ctx)
    for g in ("password", "refresh_token", "Client_Credentials", "rotate ", ""):
        r = ctx.http.post(LONG, json_body={"grant_type": g, "client_id": a["id"]}, headers=key_hdr(a["key"]))
        expect(r, 400, "unsupported_grant_type")


@test("json: integers must be JSON integers (no fraction, no exponent) within range")
def t_integers(ctx):
    a = _client(ctx)
    refused(ctx, a, [b'"ttl_seconds":1.0', b'"ttl_seconds":1e3', b'"ttl_seconds":1E3', b'"ttl_seconds":10.5',
                     b'"ttl_seconds":1e0', b'"ttl_seconds":1000.000', b'"ttl_seconds":-0',
                     b'"ttl_seconds":-0.0', b'"ttl_seconds":0'], "integer forms")
    refused(ctx, a, [b'"ttl_seconds":2147483648', b'"ttl_seconds":9223372036854775807',
                     b'"ttl_seconds":9223372036854775808', b'"ttl_seconds":18446744073709551616',
                     b'"ttl_seconds":99999999999999999999999999999', b'"ttl_seconds":-9223372036854775809',
                     b'"ttl_seconds":1e400'], "huge integers")
    t = accepted(ctx, a, b'"ttl_seconds":1000')
    eq((t["row"]["expires_at"] - t["row"]["issued_at"]).total_seconds(), 1000, "ttl")
    lt = issue_long(ctx, a)
    refused(ctx, a, [b'{"ttl_seconds":60.0}', b'{"ttl_seconds":6e1}', b'{"ttl_seconds":18446744073709551676}'],
            "integer forms on /short", path=SHORT, token=lt["token"])
    lt2 = issue_long(ctx, a)
    r = post_raw(ctx, LONG, b'{"grant_type":"rotate","client_id":"%s","token_id":"%s","overlap_seconds":1.0}'
                 % (a["id"].encode(), lt2["token_id"].encode()), key_hdr(a["key"]))
    expect(r, 400, "invalid_request")
    assert ctx.db.token_row(lt2["token_id"])["rotated_at"] is None, "rotated by a refused request"


@test("json: label and audience lengths count code points (200 ok, 201 refused)")
def t_lengths(ctx):
    a = _client(ctx)
    emoji = "\U0001F600"
    t = issue_long(ctx, a, label=emoji * 200)
    eq(t["row"]["label"], emoji * 200, "stored label")
    r = ctx.http.post(LONG, json_body={"grant_type": "client_credentials", "client_id": a["id"],
                                       "label": emoji * 201}, headers=key_hdr(a["key"]))
    expect(r, 400, "invalid_request")
    # Raw (unescaped) UTF-8 too.
    raw = ('"label":"%s"' % ("\u00e9" * 200)).encode("utf-8")
    eq(accepted(ctx, a, raw)["row"]["label"], "\u00e9" * 200, "stored label")
    raw = ('"label":"%s"' % ("\u00e9" * 201)).encode("utf-8")
    expect(post_raw(ctx, LONG, long_body(a, raw), key_hdr(a["key"])), 400, "invalid_request")
    s = check_short(ctx, ctx.http.post(SHORT, json_body={"audience": emoji * 200}, headers=bearer(t["token"])),
                    t["token"])
    eq(s["row"]["audience"], emoji * 200, "stored audience")
    r = ctx.http.post(SHORT, json_body={"audience": emoji * 201}, headers=bearer(t["token"]))
    expect(r, 400, "invalid_request")
    raw = ('{"audience":"%s"}' % (emoji * 200)).encode("utf-8")
    check_short(ctx, post_raw(ctx, SHORT, raw, bearer(t["token"])), t["token"])


@test("json: the body must be one JSON object; /long needs one, /short may have none")
def t_shapes(ctx):
    a = _client(ctx)
    for raw in (b"", b" ", b"[]", b'"x"', b"1", b"null", b"true",
                b"{'grant_type':'client_credentials'}", b'{"grant_type":"client_credentials",}',
                b'{"grant_type":"client_credentials" /* c */}', b"{", b'{"a"}', b"\x00",
                b'{"grant_type":"client_credentials","client_id":"%s"' % a["id"].encode()):
        r = post_raw(ctx, LONG, raw, key_hdr(a["key"]))
        expect(r, 400, "invalid_request")
    lt = issue_long(ctx, a)
    check_short(ctx, ctx.http.post(SHORT, body=b"", content_type=None, headers=bearer(lt["token"])), lt["token"])
    check_short(ctx, post_raw(ctx, SHORT, b"", bearer(lt["token"])), lt["token"])
    check_short(ctx, post_raw(ctx, SHORT, b"{}", bearer(lt["token"])), lt["token"])
    check_short(ctx, post_raw(ctx, SHORT, b' { } \n', bearer(lt["token"])), lt["token"])
    for raw in (b"null", b"[]", b'"x"', b"{", b"{}}", b"0"):
        expect(post_raw(ctx, SHORT, raw, bearer(lt["token"])), 400, "invalid_request")


@test("media type: application/json (parameters, case ignored), else 415")
def t_media(ctx):
    a = _client(ctx)
    for ct in ("application/json", "Application/JSON", "application/json; charset=utf-8",
               "APPLICATION/JSON;charset=UTF-8", "application/json ;foo=bar"):
        check_long(ctx, post_raw(ctx, LONG, long_body(a), key_hdr(a["key"]), content_type=ct), a)
    for ct in ("text/plain", "application/jsonx", "application/json-patch+json", "application/x-www-form-urlencoded",
               "application/problem+json", "json", "text/json", "application/*", "*/*"):
        r = post_raw(ctx, LONG, long_body(a), key_hdr(a["key"]), content_type=ct)
        expect(r, 415, "unsupported_media_type")
    r = post_raw(ctx, LONG, long_body(a), key_hdr(a["key"]), content_type=None)
    expect(r, 415, "unsupported_media_type")
    lt = issue_long(ctx, a)
    r = post_raw(ctx, SHORT, b"{}", bearer(lt["token"]), content_type="text/plain")
    expect(r, 415, "unsupported_media_type")
    r = post_raw(ctx, SHORT, b"{}", bearer(lt["token"]), content_type=None)
    expect(r, 415, "unsupported_media_type")
    check_short(ctx, post_raw(ctx, SHORT, b"{}", bearer(lt["token"]), content_type="application/JSON; x=y"),
                lt["token"])


@test("413: a body over max_body_bytes; exactly max_body_bytes is read")
def t_413(ctx):
    a = _client(ctx)
    limit = ctx.max_body
    body = long_body(a)
    exact = body + b" " * (limit - len(body))
    eq(len(exact), limit, "body length")
    check_long(ctx, post_raw(ctx, LONG, exact, key_hdr(a["key"])), a)
    over = exact + b" "
    r = post_raw(ctx, LONG, over, key_hdr(a["key"]))
    expect(r, 413, "payload_too_large")
    big = json.dumps({"grant_type": "client_credentials", "client_id": a["id"],
                      "label": "x" * (limit + 100)}).encode()
    expect(post_raw(ctx, LONG, big, key_hdr(a["key"])), 413, "payload_too_large")
    lt = issue_long(ctx, a)
    expect(post_raw(ctx, SHORT, b"{}" + b" " * limit, bearer(lt["token"])), 413, "payload_too_large")
    check_short(ctx, post_raw(ctx, SHORT, b"{}" + b" " * (limit - 2), bearer(lt["token"])), lt["token"])
    # Without Content-Length (chunked): the size is what is read.
    r = post_raw(ctx, LONG, over + b" " * 4000, key_hdr(a["key"]), chunked=True, foreign_ok=True)
    if r.header("X-Request-Id") is None and r.status in (411, 400, 501):
        pass    # the web server refused chunked bodies itself; nothing reached tokend
    else:
        expect(r, 413, "payload_too_large")


@test("check order: 404 before 405 before 413 before 415 before 400 before 401")
def t_order(ctx):
    a = _client(ctx, long_ttl_max=1000)
    big = b"{" + b" " * (ctx.max_body + 10) + b"}"
    # path before method
    r = ctx.http.request("GET", "/auth/tokens/nope", conformance=False)
    expect(r, 404, "not_found")
    # method before size
    r = ctx.http.request("PUT", LONG, body=big)
    expect(r, 405, "method_not_allowed")
    # size before media type and before credential
    expect(post_raw(ctx, LONG, big), 413, "payload_too_large")
    expect(post_raw(ctx, LONG, big, content_type="text/plain"), 413, "payload_too_large")
    expect(post_raw(ctx, SHORT, big), 413, "payload_too_large")
    expect(post_raw(ctx, LONG, big, [("Authorization", "Bearer")]), 413, "payload_too_large")
    # media type before JSON
    expect(post_raw(ctx, LONG, b"{not json", content_type="text/plain"), 415, "unsupported_media_type")
    expect(post_raw(ctx, SHORT, b"{not json", content_type="text/plain"), 415, "unsupported_media_type")
    # JSON before credential
    expect(post_raw(ctx, LONG, b"{not json"), 400, "invalid_request")
    expect(post_raw(ctx, SHORT, b"{not json"), 400, "invalid_request")
    expect(post_raw(ctx, LONG, b"{not json", key_hdr(tokfmt.mint("client"))), 400, "invalid_request")
    expect(post_raw(ctx, SHORT, b"{not json", bearer(tokfmt.mint("long"))), 400, "invalid_request")
    expect(post_raw(ctx, LONG, long_body(a, b'"ttl_seconds":"x"')), 400, "invalid_request")
    expect(post_raw(ctx, LONG, long_body(a, b'"ttl_seconds":1.5')), 400, "invalid_request")
    expect(post_raw(ctx, LONG, long_body(a, b'"nope":1')), 400, "invalid_request")
    expect(post_raw(ctx, SHORT, b'{"nope":1}'), 400, "invalid_request")
    expect(post_raw(ctx, LONG, long_body(a, b'"ttl_seconds":1.5'), [("Authorization", "Bearer")]),
           400, "invalid_request")
    # credential before policy values
    r = post_raw(ctx, LONG, long_body(a, b'"ttl_seconds":100000000'), key_hdr(tokfmt.mint("client", a["id"])))
    expect(r, 401, "invalid_client", [CH_KEY_INVALID])
    r = post_raw(ctx, LONG, long_body(a, b'"ttl_seconds":100000000'))
    expect(r, 401, chall=[CH_BEARER, CH_KEY])
    r = post_raw(ctx, LONG, long_body(a, b'"scope":"nope"'), key_hdr(tokfmt.mint("client", a["id"])))
    expect(r, 401, "invalid_client", [CH_KEY_INVALID])
    r = post_raw(ctx, SHORT, b'{"ttl_seconds":100000}', bearer(tokfmt.mint("long")))
    expect(r, 401, "invalid_token", [CH_BEARER_INVALID])
    r = post_raw(ctx, SHORT, b'{"scope":"nope"}')
    expect(r, 401, "invalid_token", [CH_BEARER])
    # policy values before target
    r = post_raw(ctx, LONG, b'{"grant_type":"rotate","client_id":"%s","token_id":"%s","ttl_seconds":1001}'
                 % (a["id"].encode(), str(uuid.uuid4()).encode()), key_hdr(a["key"]))
    expect(r, 400, "invalid_request")
    r = post_raw(ctx, LONG, b'{"grant_type":"rotate","client_id":"%s","token_id":"%s","overlap_seconds":99999999}'
                 % (a["id"].encode(), str(uuid.uuid4()).encode()), key_hdr(a["key"]))
    expect(r, 400, "invalid_request")
    # revoke: the credential before the target
    r = ctx.http.post(revoke_path(uuid.uuid4()), body=b"", content_type=None, headers=bearer(tokfmt.mint("long")))
    expect(r, 401, "invalid_token", [CH_BEARER_INVALID])


@test("json: 600 random mutations of a valid body never answer other than 201/400/401", full=True)
def t_json_fuzz(ctx):
    import random
    rnd = random.Random(20261128)
    a = _client(ctx)
    base = json.dumps({"grant_type": "client_credentials", "client_id": a["id"], "scope": "read write",
                       "ttl_seconds": 3600, "label": "fuzz \u00e9\U0001F600"}, ensure_ascii=False).encode()
    pool = [b"\x00", b"\\", b'"', b"{", b"}", b"[", b"]", b",", b":", b"\\u0000", b"\\ud800", b"\xc0\xaf",
            b"\xed\xa0\x80", b"1e3", b"NaN", b"null", b" ", b"\n", b"\x01", b"\xff", b"-", b"0"]
    for i in range(600):
        body = bytearray(base)
        for _ in range(rnd.randint(1, 3)):
            op = rnd.randint(0, 2)
            pos = rnd.randint(0, len(body))
            if op == 0 and len(body) > 1:
                del body[min(pos, len(body) - 1)]
            elif op == 1:
                body[pos:pos] = rnd.choice(pool)
            else:
                body[pos:pos] = bytes([rnd.randint(0, 255)])
        r = post_raw(ctx, LONG, bytes(body), key_hdr(a["key"]))
        assert r.status in (201, 400, 401), "mutation %d %r: %s" % (i, bytes(body), r.brief())
        if r.status == 201:
            check_long(ctx, r, a)
