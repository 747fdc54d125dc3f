#!/usr/bin/env python3
"""make_corpus.py - write the generated seeds of tests/fuzz/corpus/.

    python3 tests/fuzz/make_corpus.py

Writes, and overwrites, the seeds named below, the same bytes on every
run: tokens are minted here from fixed ids and fixed "random" bytes, in
the format of CONTRACT section 2 (independently of lib/tk_token.c, so a
disagreement shows).  Leaves every other file alone: the variable sets
of corpus/route/ that lighttpd and Apache really sent (lighttpd-*,
apache-*: captured once through a FastCGI program that writes its
parameters out), the regress-* inputs of crashes, and whatever a
`run.sh --merge` added.
"""
import hashlib
import os
import uuid
import zlib

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CLIENT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
TOKEN_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
SHORT_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def b62(n, width):
    s = ""
    while n:
        n, r = divmod(n, 62)
        s = ALPHABET[r] + s
    assert len(s) <= width
    return s.rjust(width, "0")


def with_check(prefix, body):
    return prefix + body + b62(zlib.crc32((prefix + body).encode()), 6)


def mint(prefix, uid, seed):
    rnd = hashlib.sha256(seed.encode()).digest()
    return with_check(prefix, b62(int.from_bytes(uuid.UUID(uid).bytes + rnd, "big"), 65))


TKL = mint("tkl_", TOKEN_ID, "long")
TKS = mint("tks_", SHORT_ID, "short")
TKC = mint("tkc_", CLIENT, "client")
# The largest body that fits 48 bytes, and the smallest that does not.
TK_MAX = with_check("tkl_", b62(2**384 - 1, 65))
TK_OVER = with_check("tkl_", b62(2**384, 65))
TK_ZERO = with_check("tks_", "0" * 65)
BAD_CHECK = TKL[:-1] + ("A" if TKL[-1] != "A" else "B")


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    assert len(data) < 4096, (target, name)
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# Bodies refused whatever the endpoint: CONTRACT section 8's list of what
# json-c alone lets through, and JSON's own grammar.
NASTY = {
    "dup-member": b'{"scope":"read","scope":"admin"}',
    "dup-member-escaped": b'{"scope":"read","sc\\u006fpe":"admin"}',
    "dup-member-nested": b'{"a":{"x":1,"x":2}}',
    "nul-escape-in-name": b'{"scope":"read","scope\\u0000x":"admin"}',
    "nul-escape-in-value": b'{"scope":"re\\u0000ad"}',
    "raw-nul-in-string": b'{"scope":"re\x00ad"}',
    "raw-nul-after-document": b'{"scope":"read"}\x00{"scope":"admin"}',
    "raw-control-in-string": b'{"scope":"re\x01ad"}',
    "raw-tab-in-string": b'{"scope":"read\twrite"}',
    "overlong-utf8-slash": b'{"label":"\xc0\xaf"}',
    "overlong-utf8-3byte": b'{"label":"\xe0\x80\xaf"}',
    "surrogate-utf8": b'{"label":"\xed\xa0\x80"}',
    "above-10ffff-utf8": b'{"label":"\xf4\x90\x80\x80"}',
    "truncated-utf8": b'{"label":"\xe2\x82"}',
    "lone-high-surrogate-escape": b'{"label":"\\ud83d"}',
    "lone-low-surrogate-escape": b'{"label":"\\ude00"}',
    "reversed-surrogate-escapes": b'{"label":"\\ude00\\ud83d"}',
    "nan": b'{"ttl_seconds":NaN}',
    "infinity": b'{"ttl_seconds":Infinity}',
    "minus-infinity": b'{"ttl_seconds":-Infinity}',
    "single-quoted-name": b"{'scope':\"read\"}",
    "single-quoted-value": b"{\"scope\":'read'}",
    "unquoted-name": b'{scope:"read"}',
    "trailing-comma": b'{"scope":"read",}',
    "trailing-data": b'{"scope":"read"} x',
    "two-documents": b'{}{}',
    "comment": b'{/* c */"scope":"read"}',
    "bom": b'\xef\xbb\xbf{"scope":"read"}',
    "truncated": b'{"scope":"re',
    "truncated-escape": b'{"scope":"\\u12',
    "invalid-escape": b'{"scope":"\\x41"}',
    "empty": b"",
    "blank": b" \r\n\t",
    "leading-zero": b'{"ttl_seconds":0123}',
    "fraction": b'{"ttl_seconds":60.0}',
    "exponent": b'{"ttl_seconds":6e1}',
    "huge-integer": b'{"ttl_seconds":99999999999999999999999999}',
    "negative": b'{"ttl_seconds":-1}',
    "null-value": b'{"scope":null}',
    "deep-nesting": b'{"a":' * 9 + b"1" + b"}" * 9,
    "top-level-array": b'[{"scope":"read"}]',
    "top-level-string": b'"read"',
    "top-level-number": b"42",
    "top-level-null": b"null",
    "vertical-tab-blank": b'\x0b{"scope":"read"}',
}

# Objects that walk the scanner's grammar; NAME is a known member of the
# endpoint, spelled with an escape.
GRAMMAR = {
    "escaped-names": r'{"\u00e9\u0800\ud83d\ude00\"\\\/\b\f\n\r\t":1}',
    "escaped-values": r'{"NAME":"\"\\\/\b\f\n\r\tA\u00e9\uD83D\uDE00"}',
    "escaped-known-name": '{"NAME":"read"}',
    "values-of-every-kind": '{"x":[0,-0,1.5,-2.5e-3,1E+2,1e2,true,false,null,{},[],[[1],{"y":[]}],"\u00e9"]}',
    "nesting-8": '{"x":' * 7 + '[]' + '}' * 7,
    "bad-numbers": '{"x":[1.]}',
    "bad-exponent": '{"x":1e+}',
    "bad-minus": '{"x":-a}',
    "bad-literal": '{"x":nul}',
    "bad-array": '{"x":[1 2]}',
    "unclosed-array": '{"x":[1,',
    "missing-colon": '{"x" 1}',
    "bad-hex-escape": r'{"x":"\u00g0"}',
    "high-surrogate-then-other": r'{"x":"\ud83d\u0041"}',
    "utf8-of-every-length": '{"x":"\x7f\u07ff\u0800\uffff\U00010000\U0010ffff"}',
}


def json_seeds():
    long_ = {
        "cc-minimal": '{"grant_type":"client_credentials","client_id":"%s"}' % CLIENT,
        "cc-full": '{\n  "grant_type": "client_credentials",\n  "client_id": "%s",\n'
                   '  "scope": "read write tokend:rotate",\n  "ttl_seconds": 2592000,\n'
                   '  "label": "ci deploy key \\u00e9\\ud83d\\ude00 \u00e9\U0001f600"\n}' % CLIENT,
        "cc-empty-scope": '{"grant_type":"client_credentials","client_id":"%s","scope":""}' % CLIENT,
        "cc-upper-uuid": '{"client_id":"%s","grant_type":"client_credentials"}' % CLIENT.upper(),
        "rotate-key": '{"grant_type":"rotate","client_id":"%s","token_id":"%s","overlap_seconds":0}'
                      % (CLIENT, TOKEN_ID),
        "rotate-bearer": '{"grant_type":"rotate","client_id":"%s"}' % CLIENT,
        "rotate-full": '{"grant_type":"rotate","client_id":"%s","token_id":"%s","scope":"read",'
                       '"ttl_seconds":3600,"overlap_seconds":2147483647,"label":"rotated"}'
                       % (CLIENT, TOKEN_ID),
        "cc-with-token-id": '{"grant_type":"client_credentials","client_id":"%s","token_id":"%s"}'
                            % (CLIENT, TOKEN_ID),
        "cc-with-overlap": '{"grant_type":"client_credentials","client_id":"%s","overlap_seconds":5}'
                           % CLIENT,
        "missing-client-id": '{"grant_type":"client_credentials"}',
        "missing-grant": '{"client_id":"%s"}' % CLIENT,
        "unsupported-grant": '{"grant_type":"password","client_id":"%s"}' % CLIENT,
        "grant-not-string": '{"grant_type":1,"client_id":"%s"}' % CLIENT,
        "bad-uuid": '{"grant_type":"client_credentials","client_id":"{%s}"}' % CLIENT,
        "unknown-member": '{"grant_type":"client_credentials","client_id":"%s","extra":true}' % CLIENT,
        "ttl-too-large": '{"grant_type":"client_credentials","client_id":"%s","ttl_seconds":2147483648}'
                         % CLIENT,
        "ttl-zero": '{"grant_type":"client_credentials","client_id":"%s","ttl_seconds":0}' % CLIENT,
        "scope-double-space": '{"grant_type":"client_credentials","client_id":"%s","scope":"a  b"}' % CLIENT,
        "scope-33-items": '{"grant_type":"client_credentials","client_id":"%s","scope":"%s"}'
                          % (CLIENT, " ".join("s%d" % i for i in range(33))),
        "scope-65-bytes": '{"grant_type":"client_credentials","client_id":"%s","scope":"%s"}'
                          % (CLIENT, "x" * 65),
        "scope-quote-char": '{"grant_type":"client_credentials","client_id":"%s","scope":"a\\"b"}' % CLIENT,
        "label-201-points": '{"grant_type":"client_credentials","client_id":"%s","label":"%s"}'
                            % (CLIENT, "\u00e9" * 201),
        "label-escaped-newline": '{"grant_type":"client_credentials","client_id":"%s","label":"a\\nb"}'
                                 % CLIENT,
        "label-object": '{"grant_type":"client_credentials","client_id":"%s","label":{"a":[1,2]}}' % CLIENT,
        "long-unknown-name": '{"%s":1}' % ("n" * 60),
    }
    for name, body in long_.items():
        write("json_long", name, body)
    short = {
        "no-body": "",
        "blank-body": " \r\n",
        "empty-object": "{}",
        "scope": '{"scope":"read write"}',
        "full": '{"scope":"read","ttl_seconds":900,"audience":"orders-api \\u00fc"}',
        "ttl-max": '{"ttl_seconds":2147483647}',
        "audience-201-points": '{"audience":"%s"}' % ("a" * 201),
        "audience-number": '{"audience":5}',
        "scope-number": '{"scope":5}',
        "ttl-string": '{"ttl_seconds":"60"}',
        "unknown-member": '{"grant_type":"client_credentials"}',
        "control-escape-in-audience": '{"audience":"a\\u0001b"}',
    }
    for name, body in short.items():
        write("json_short", name, body)
    intro = {
        "long-token": '{"token":"%s"}' % TKL,
        "short-token": '{"token": "%s"}' % TKS,
        "garbage-token": '{"token":"not a token"}',
        "empty-token": '{"token":""}',
        "token-201-chars": '{"token":"%s"}' % ("t" * 201),
        "token-number": '{"token":75}',
        "missing-token": "{}",
        "extra-member": '{"token":"%s","token_type_hint":"access_token"}' % TKS,
        "dup-token": '{"token":"%s","token":"%s"}' % (TKS, TKL),
    }
    for name, body in intro.items():
        write("json_introspect", name, body)
    # The scanner sees every body: the endpoints' valid ones and JSON's
    # corners too.
    for name, body in list(long_.items())[:8] + list(short.items())[:5] + list(intro.items())[:2]:
        write("json_scan", "valid-" + name, body)
    scan = {
        "all-escapes": r'{"s":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}',
        "numbers": '[0,-0,1.5,-1.5e-3,1E+2,1e2,123456789012345678901234567890]',
        "literals": '{"a":true,"b":false,"c":null,"d":[],"e":{}}',
        "nesting-8": '[' * 8 + ']' * 8,
        "nesting-9": '[' * 9 + ']' * 9,
        "bad-number-dot": '[1.]',
        "bad-number-exp": '[1e]',
        "bad-number-minus": '[-]',
        "bad-literal": '[tru]',
        "many-members": "{" + ",".join('"m%d":%d' % (i, i) for i in range(40)) + "}",
        "same-name-other-objects": '[{"a":1},{"a":2},{"b":{"a":3}}]',
        "utf8-4byte": '{"s":"\U0001f600 \U0010ffff \u0800 \u07ff"}',
        "escape-at-end": '{"s":"\\',
        "missing-colon": '{"a" 1}',
        "missing-value": '{"a":}',
    }
    for name, body in scan.items():
        write("json_scan", name, body)
    for name, body in NASTY.items():
        write("json_scan", "nasty-" + name, body)
    # The decoders see them too (the scanner answers first), and JSON's
    # grammar in bodies of their own shape.
    for target, known in (("json_long", "gr\\u0061nt_type"), ("json_short", "sc\\u006fpe"),
                          ("json_introspect", "t\\u006fken")):
        for name, body in NASTY.items():
            write(target, "nasty-" + name, body)
        for name, body in GRAMMAR.items():
            write(target, "grammar-" + name, body.replace("NAME", known))


def cred_seeds():
    seeds = {
        "bearer-long": "Bearer " + TKL,
        "bearer-short": "Bearer " + TKS,
        "bearer-lower-scheme": "bearer " + TKS,
        "bearer-tab-and-blanks": "  BEARER\t" + TKL + " \t",
        "bearer-alone": "Bearer",
        "bearer-blank": "Bearer   ",
        "bearer-repeated": "Bearer %s, Bearer %s" % (TKS, TKL),
        "bearer-trailing-comma": "Bearer %s," % TKS,
        "bearer-two-tokens": "Bearer %s %s" % (TKS, TKL),
        "bearer-bad-checksum": "Bearer " + BAD_CHECK,
        "bearer-74-chars": "Bearer " + TKS[:-1],
        "bearer-76-chars": "Bearer " + TKS + "0",
        "bearer-bad-prefix": "Bearer tkx_" + TKS[4:],
        "bearer-bad-alphabet": "Bearer " + TKS[:10] + "-" + TKS[11:],
        "bearerx": "Bearerx " + TKS,
        "basic": "Basic dXNlcjpwYXNzd29yZA==",
        "key-only": "\0" + TKC,
        "key-blank": "\0 \t",
        "key-trailing-garbage": "\0" + TKC + " extra",
        "key-leading-blanks": "\0\t " + TKC,
        "key-is-long-token": "\0" + TKL,
        "both": "Bearer %s\0%s" % (TKS, TKC),
        "both-basic-and-key": "Basic Zm9vOmJhcg==\0" + TKC,
        "key-bad-checksum": "\0tkc_" + BAD_CHECK[4:],
    }
    for name, value in seeds.items():
        write("cred", name, value)


def token_seeds():
    seeds = {
        "long": TKL, "short": TKS, "client": TKC,
        "max-body": TK_MAX, "body-over-384-bits": TK_OVER, "zero-body": TK_ZERO,
        "bad-checksum": BAD_CHECK, "bad-prefix": "tkx_" + TKL[4:], "upper-prefix": "TKL_" + TKL[4:],
        "74-chars": TKL[:-1], "76-chars": TKL + "0", "bad-alphabet": TKL[:40] + "_" + TKL[41:],
        "checksum-alphabet": TKL[:-1] + "+", "nul-inside": TKL[:30] + "\0" + TKL[31:],
        "uuid-lower": TOKEN_ID, "uuid-upper": TOKEN_ID.upper(), "uuid-braces": "{%s}" % TOKEN_ID,
        "uuid-no-dashes": TOKEN_ID.replace("-", ""), "uuid-short": TOKEN_ID[:-1],
        "uuid-long": TOKEN_ID + "0", "uuid-bad-digit": TOKEN_ID[:10] + "g" + TOKEN_ID[11:],
        "base62-one": "z", "base62-128": "z" * 128, "base62-65-max": b62(2**384 - 1, 65),
        "base62-padded": "000000000000000000001",
    }
    for name, value in seeds.items():
        write("token", name, value)


ALL_SETTINGS = """\
# tokend.conf: every setting at its default
listen =
listen_mode = 0660
listen_group =
database_url = host=/var/run/postgresql dbname=tokend
admin_database_url =
workers = 2
threads = 4
pool_size = 4
pool_acquire_timeout_ms = 1000
statement_timeout_ms = 2000
request_timeout = 5
max_requests = 0
shutdown_timeout = 30s
base_path = /v1
max_body_bytes = 16384
rotation_grace_seconds = 60
retry_after_seconds = 1
trusted_addresses = 127.0.0.0/8,::1
log_level = info
log_format = logfmt
log_file =
rate_limit_window = 1m
rate_limit_budget = 20
prepared_statements = on
"""


def config_seeds():
    seeds = {
        "all-settings": ALL_SETTINGS,
        "empty": "",
        "comments-and-blanks": "# only comments\n\n   \n\t# indented\n",
        "quoted-values": 'listen = "127.0.0.1:9000"\nlog_file = ""\nbase_path = "/api/v1"\n',
        "crlf": "workers = 1\r\nthreads = 8\r\nlog_format = json\r\n",
        "no-final-newline": "log_level = debug",
        "seconds-suffixes": "request_timeout = 2m\nshutdown_timeout = 1h\nrate_limit_window = 1d\n"
                            "rotation_grace_seconds = 0s\n",
        "bools": "prepared_statements = OFF\n%%\n--prepared-statements\nyes\n",
        "unix-socket": "listen = /run/tokend/tokend.sock\nlisten_mode = 0600\nlisten_group = www-data\n",
        "urls-with-passwords": "database_url = postgresql://tokend:s3cret@db.example/tokend?sslmode=require\n"
                               "admin_database_url = host=db password = hunter2 dbname=tokend\n",
        "trusted-v6": "trusted_addresses = 10.0.0.0/8 192.168.1.7, fd00::/8,::1/128\n",
        "no-base-path": "base_path =\n",
        "bad-no-equals": "workers 4\n",
        "bad-unknown": "worker = 4\n",
        "bad-mode": "listen_mode = 0999\n",
        "bad-seconds": "request_timeout = 5x\n",
        "bad-range": "threads = 0\n",
        "bad-overflow": "max_requests = 99999999999999999999999\n",
        "bad-bool": "prepared_statements = maybe\n",
        "bad-level": "log_level = trace\n",
        "bad-format": "log_format = xml\n",
        "bad-base-path": "base_path = v1/\n",
        "bad-trusted": "trusted_addresses = 300.1.1.1/8\n",
        "long-line": "database_url = " + "x" * 3000 + "\n",
        "nul-in-line": "log_level = info\0debug\nworkers = 1\n",
        "flags": "workers = 2\n%%\n--workers=3\n--threads\n8\n--log-level=debug\n--base-path\n\n"
                 "--check-config\n--listen=127.0.0.1:9000\n",
        "flags-actions": "%%\n--help\n--version\n--\n",
        "flags-after-double-dash": "%%\n--workers=1\n--\nextra\n",
        "flags-unknown": "%%\n--no-such-setting=1\n",
        "flags-missing-value": "%%\n--threads\n",
        "flags-positional": "%%\nmigrate\n",
        "flags-config-dropped": "%%\n--config=/dev/zero\n--workers\n1\n",
        "rest-mode": "%%\n+\n--log-format=json\nclient\ncreate\n--name\nx\n",
        "rest-mode-unknown-flag": "threads = 2\n%%\n+\n--json\n--threads=3\nclient\nlist\n",
        "env": "threads = 2\n%%\nTOKEND_THREADS=6\nTOKEND_POOL_SIZE=3\nTOKEND_LOG_FORMAT=json\n"
               "TOKEND_DATABASE_URL=postgres://u:p@h/db\n",
        "env-bad": "%%\nTOKEND_RATE_LIMIT_BUDGET=0\n",
        "env-workers": "%%\nTOKEND_WORKERS=0\n",
        "precedence": "workers = 1\npool_size = 9\n%%\nTOKEND_WORKERS=2\n--workers=3\n",
    }
    for name, text in seeds.items():
        write("config", name, text)


def route_seeds():
    seeds = {
        "no-variables": "",
        "no-role-long": "REQUEST_METHOD=POST\nREQUEST_URI=/v1/auth/tokens/long\n",
        "base-path-none": "REQUEST_METHOD=POST\nREQUEST_URI=/auth/tokens/short\nbase_path=\n",
        "base-path-deep": "REQUEST_METHOD=POST\nREQUEST_URI=/api/v1/auth/tokens/%s/revoke\nbase_path=/api/v1\n"
                          % TOKEN_ID,
        "base-path-boundary": "REQUEST_METHOD=POST\nREQUEST_URI=/v1x/auth/tokens/long\n",
        "filter-role": "FCGI_ROLE=FILTER\nREQUEST_URI=/v1/healthz\n",
        "revoke-param-129": "REQUEST_METHOD=POST\nREQUEST_URI=/v1/auth/tokens/%s/revoke\n" % ("p" * 129),
        "nine-segments": "REQUEST_METHOD=GET\nREQUEST_URI=/v1/a/b/c/d/e/f/g/h/i\n",
        "path-over-1024": "REQUEST_METHOD=GET\nREQUEST_URI=/v1/%s\n" % ("a" * 1030),
        "bad-escape": "REQUEST_METHOD=POST\nREQUEST_URI=/v1/auth/tokens/lon%g\n",
        "escape-at-end": "REQUEST_METHOD=POST\nREQUEST_URI=/v1/auth/tokens/long%4\n",
        "bad-hex-digits": "REQUEST_METHOD=POST\nREQUEST_URI=/v1/auth/tokens/%zzlong\n",
        "two-segments": "REQUEST_METHOD=POST\nREQUEST_URI=/v1/auth/tokens\n",
        "not-auth-tokens": "REQUEST_METHOD=POST\nREQUEST_URI=/v1/api/keys/long\n",
        "encoded-nul": "REQUEST_METHOD=POST\nREQUEST_URI=/v1/auth/tokens/%00/revoke\n",
        "request-id-65": "REQUEST_METHOD=GET\nREQUEST_URI=/v1/healthz\nHTTP_X_REQUEST_ID=%s\n" % ("r" * 65),
        "content-types": "REQUEST_METHOD=POST\nREQUEST_URI=/v1/auth/tokens/short\n"
                         "CONTENT_TYPE= Application/JSON ; charset=utf-8\n",
        "content-type-json-patch": "REQUEST_METHOD=POST\nREQUEST_URI=/v1/auth/tokens/short\n"
                                   "CONTENT_TYPE=application/json-patch+json\n",
    }
    for name, text in seeds.items():
        write("route", "synthetic-" + name + ".env", text)


if __name__ == "__main__":
    json_seeds()
    cred_seeds()
    token_seeds()
    config_seeds()
    route_seeds()
