"""A small HTTP client for tokend, on http.client and raw sockets.

Every request carries a fresh X-Request-Id (unless told otherwise); every
response is checked for the rules that hold for all answers (X-Request-Id
echo, problem+json shape, no-store on token answers) and validated against
openapi.yaml, and every token seen is remembered for the secret scans.
"""
import http.client
import itertools
import json
import os
import re
import threading
import urllib.parse

import oas
import tokfmt

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_UNSET = object()


class Response:
    def __init__(self, method, path, status, reason, headers, body, sent_rid):
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value)
        self.body = body                # bytes
        self.sent_rid = sent_rid        # X-Request-Id we sent (None: none)
        self._json = _UNSET

    def header(self, name):
        """First value of header name (case-insensitive), or None."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def rid(self):
        return self.header("X-Request-Id")

    @property
    def json(self):
        if self._json is _UNSET:
            try:
                self._json = json.loads(self.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                self._json = None
        return self._json

    @property
    def media_type(self):
        ct = self.header("Content-Type")
        return ct.split(";")[0].strip().lower() if ct else None

    def problem_sans_rid(self):
        """The problem body without request_id, for 'answers exactly like' checks."""
        j = dict(self.json or {})
        j.pop("request_id", None)
        return j

    def brief(self):
        body = self.body[:300].decode("utf-8", "replace")
        return "%s %s -> %d %s" % (self.method, self.path, self.status, body)

    def __repr__(self):
        return "<Response %s>" % self.brief()


class Client:
    def __init__(self, base_url, spec=None):
        u = urllib.parse.urlsplit(base_url)
        if u.scheme != "http":
            raise SystemExit("TOKEND_BASE_URL must be http://")
        self.host = u.hostname
        self.port = u.port or 80
        self.base_path = u.path.rstrip("/")
        self.spec = spec
        self._n = itertools.count(1)
        self._tag = os.urandom(3).hex()
        self._lock = threading.Lock()
        self.tokens_seen = set()        # every token / key string the suite saw
        self.request_ids = []           # request ids of answers that came from tokend
        self.responses = 0
        self.conformance_checked = 0
        self.conformance_skipped = 0
        self.errors_seen = set()         # (status, error) of every problem answer
        # Failed authentications are limited per remote address (CONTRACT
        # §12).  Over loopback the suite spreads its requests over addresses
        # of 127.0.0.0/8, moving on before an address spends half its
        # budget, so that only the 429 case meets the limit.
        self.budget = int(os.environ.get("TOKEND_RATE_LIMIT_BUDGET", "20"))
        self.loopback = self.host.startswith("127.")
        rnd = os.urandom(2)
        self._src_net = (10 + rnd[0] % 240, rnd[1])
        self._src_n = 0
        self._src_failures = 0
        self._src = self.new_source() if self.loopback else None

    def new_source(self):
        """A loopback address this run has not used yet (None when the
        server is not reached over loopback)."""
        if not self.loopback:
            return None
        with self._lock:
            self._src_n += 1
            n = self._src_n
        b, c = self._src_net
        return "127.%d.%d.%d" % (b, (c + n // 250) % 256, 1 + n % 250)

    def _source_for_request(self):
        with self._lock:
            if self.loopback and self._src_failures >= max(1, self.budget // 2):
                self._src_failures = 0
                rotate = True
            else:
                rotate = False
        if rotate:
            src = self.new_source()
            with self._lock:
                self._src = src
        return self._src

    def new_rid(self):
        return "e2e-%s-%d" % (self._tag, next(self._n))

    def url_path(self, path):
        """path: below base_path ('/auth/tokens/long') unless it starts with '//'
        meaning 'raw, as is' (then the leading '//' is dropped to '/')."""
        if path.startswith("@"):
            return path[1:]
        return self.base_path + path

    def request(self, method, path, body=None, headers=None, json_body=_UNSET,
                rid=_UNSET, content_type=_UNSET, conformance=True, chunked=False,
                foreign_ok=False, source=None):
        """One request.  path below base_path, or '@/raw/path' for an exact
        request target.  body: bytes|str|None; json_body: object to dump.
        headers: list of (name, value) or dict.  rid: X-Request-Id to send
        (None: send none; default: a fresh one).  conformance=False: the
        path is outside the spec.  foreign_ok: an answer made by the web
        server in front (no X-Request-Id) is returned, not refused.
        source: the loopback address to send from (default: the suite's
        rotating one)."""
        target = self.url_path(path)
        hdrs = []
        if isinstance(headers, dict):
            hdrs = list(headers.items())
        elif headers:
            hdrs = list(headers)
        if json_body is not _UNSET:
            body = json.dumps(json_body).encode("utf-8")
            if content_type is _UNSET:
                content_type = "application/json"
        if isinstance(body, str):
            body = body.encode("utf-8")
        if content_type is _UNSET:
            content_type = "application/json" if body else None
        if content_type is not None:
            hdrs.append(("Content-Type", content_type))
        if rid is _UNSET:
            rid = self.new_rid()
        if rid is not None:
            hdrs.append(("X-Request-Id", rid))
        for _, v in hdrs:
            self._remember(v)
        src = source or self._source_for_request()
        resp = self._send(method, target, hdrs, body, chunked, src)
        if source is None and 400 <= resp.status < 500:
            with self._lock:
                self._src_failures += 1
        resp.sent_rid = rid
        self._after(resp, conformance, foreign_ok)
        return resp

    def _send(self, method, target, hdrs, body, chunked, source=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=15,
                                          source_address=(source, 0) if source else None)
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            for k, v in hdrs:
                conn.putheader(k, v)
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                data = body or b""
                step = 4096
                for i in range(0, len(data), step):
                    piece = data[i:i + step]
                    conn.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
                conn.send(b"0\r\n\r\n")
            else:
                if body is not None or method == "POST":
                    conn.putheader("Content-Length", str(len(body or b"")))
                conn.endheaders(body or None)
            r = conn.getresponse()
            data = r.read()
            headers = list(r.getheaders())
            return Response(method, target, r.status, r.reason, headers, data, None)
        finally:
            conn.close()

    def _remember(self, text):
        if not isinstance(text, str):
            return
        for m in tokfmt.TOKEN_SEARCH_RE.finditer(text):
            with self._lock:
                self.tokens_seen.add(m.group(0))

    def _after(self, resp, conformance, foreign_ok=False):
        """Checks every answer must pass; raise AssertionError on a failure."""
        self.responses += 1
        try:
            self._remember(resp.body.decode("utf-8", "replace"))
        except Exception:
            pass
        rid = resp.rid
        problems = []
        if rid is None:
            # Every answer of tokend has one; without it the web server in
            # front answered by itself, which only some callers accept.
            if foreign_ok:
                return
            raise AssertionError("%s: no X-Request-Id (%r)" % (resp.brief(), resp.headers))
        with self._lock:
            self.request_ids.append(rid)
        if len(resp.header_all("X-Request-Id")) != 1:
            problems.append("X-Request-Id repeated: %r" % resp.header_all("X-Request-Id"))
        if not REQUEST_ID_RE.match(rid):
            problems.append("X-Request-Id %r does not match %s" % (rid, REQUEST_ID_RE.pattern))
        sent = resp.sent_rid
        if sent is not None and REQUEST_ID_RE.match(sent) and rid != sent:
            problems.append("X-Request-Id %r not echoed (got %r)" % (sent, rid))
        if sent is not None and not REQUEST_ID_RE.match(sent) and rid == sent:
            problems.append("invalid X-Request-Id %r echoed" % sent)
        if resp.status >= 400:
            problems += check_problem(resp)
            if isinstance(resp.json, dict):
                with self._lock:
                    self.errors_seen.add((resp.status, resp.json.get("error")))
        if resp.status in (200, 201):
            if resp.media_type != "application/json":
                problems.append("Content-Type %r on %d" % (resp.header("Content-Type"), resp.status))
            j = resp.json
            if isinstance(j, dict) and any(k in j for k in ("long_token", "access_token")):
                if resp.header("Cache-Control") != "no-store":
                    problems.append("token answer without Cache-Control: no-store (%r)"
                                    % resp.header("Cache-Control"))
                if resp.header("Pragma") != "no-cache":
                    problems.append("token answer without Pragma: no-cache (%r)" % resp.header("Pragma"))
        if resp.status == 204 and resp.body:
            problems.append("204 with a body of %d bytes" % len(resp.body))
        if not conformance:
            with self._lock:
                self.conformance_skipped += 1
        elif self.spec is not None:
            api_path = oas.api_path_of(resp.path, self.base_path)
            res = None
            if api_path is not None:
                res = self.spec.validate_response(api_path, resp.method, resp.status,
                                                  resp.headers, resp.body)
            if res is None:
                with self._lock:
                    self.conformance_skipped += 1
            else:
                with self._lock:
                    self.conformance_checked += 1
                problems += ["openapi: " + p for p in res]
        if problems:
            raise AssertionError("%s: %s" % (resp.brief(), "; ".join(problems)))

    # -- conveniences -------------------------------------------------------
    def post(self, path, **kw):
        return self.request("POST", path, **kw)


TITLES = {
    "invalid_request": "Invalid request",
    "invalid_scope": "Invalid scope",
    "unsupported_grant_type": "Unsupported grant type",
    "invalid_client": "Invalid client",
    "invalid_token": "Invalid token",
    "insufficient_scope": "Insufficient scope",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "conflict": "Conflict",
    "payload_too_large": "Payload too large",
    "unsupported_media_type": "Unsupported media type",
    "too_many_requests": "Too many requests",
    "server_error": "Internal server error",
    "service_unavailable": "Service unavailable",
}
STATUS_OF = {
    "invalid_request": 400, "invalid_scope": 400, "unsupported_grant_type": 400,
    "invalid_client": 401, "invalid_token": 401, "insufficient_scope": 403,
    "not_found": 404, "method_not_allowed": 405, "conflict": 409,
    "payload_too_large": 413, "unsupported_media_type": 415,
    "too_many_requests": 429, "server_error": 500, "service_unavailable": 503,
}


def check_problem(resp):
    """Problems with an error answer's problem+json document (CONTRACT §8)."""
    out = []
    if resp.media_type != "application/problem+json":
        out.append("Content-Type %r, want application/problem+json" % resp.header("Content-Type"))
    j = resp.json
    if not isinstance(j, dict):
        return out + ["body is not a JSON object"]
    want = {"type", "title", "status", "detail", "error", "request_id"}
    if set(j) != want:
        out.append("members %s, want %s" % (sorted(j), sorted(want)))
    err = j.get("error")
    if err not in STATUS_OF:
        out.append("unknown error %r" % err)
    else:
        if j.get("type") != "urn:tokend:problem:" + err:
            out.append("type %r for error %r" % (j.get("type"), err))
        if j.get("title") != TITLES[err]:
            out.append("title %r for error %r, want %r" % (j.get("title"), err, TITLES[err]))
        if STATUS_OF[err] != resp.status:
            out.append("error %r on status %d" % (err, resp.status))
    if j.get("status") != resp.status or isinstance(j.get("status"), bool):
        out.append("status member %r != %d" % (j.get("status"), resp.status))
    if not isinstance(j.get("detail"), str) or not j.get("detail"):
        out.append("detail %r" % j.get("detail"))
    elif tokfmt.TOKEN_SEARCH_RE.search(j["detail"]):
        out.append("detail holds a token")
    if j.get("request_id") != resp.rid:
        out.append("request_id %r != X-Request-Id %r" % (j.get("request_id"), resp.rid))
    return out
