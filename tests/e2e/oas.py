"""Response conformance against openapi.yaml (OpenAPI 3.0).

The spec is loaded with PyYAML; `$ref`s are resolved inline into the
document's own components; OpenAPI 3.0 `nullable: true` becomes a JSON
Schema type union; each body is validated with a Draft 4 validator and a
format checker that knows uuid, date-time and int32.  Required response
headers declared in the spec must be present and match their schema.
"""
import copy
import json
import re
import urllib.parse
import uuid

import jsonschema
import yaml

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# RFC 3339 date-time (the spec's own pattern narrows it further).
DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

_format_checker = jsonschema.FormatChecker(formats=())


@_format_checker.checks("uuid")
def _is_uuid(value):
    if not isinstance(value, str):
        return True
    return bool(UUID_RE.match(value))


@_format_checker.checks("date-time")
def _is_date_time(value):
    if not isinstance(value, str):
        return True
    return bool(DATE_TIME_RE.match(value))


@_format_checker.checks("int32")
def _is_int32(value):
    if not isinstance(value, int) or isinstance(value, bool):
        return True
    return -2**31 <= value < 2**31


# Keywords of OpenAPI 3.0 schemas that JSON Schema does not know; dropped.
_OAS_ONLY = {"nullable", "discriminator", "readOnly", "writeOnly", "xml",
             "externalDocs", "example", "deprecated"}


class Spec:
    def __init__(self, path):
        with open(path, "r", encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.paths = self.doc.get("paths", {})
        self._templates = []
        for template in self.paths:
            parts = template.strip("/").split("/")
            regex = "^/" + "/".join(
                "[^/]+" if p.startswith("{") and p.endswith("}") else re.escape(p)
                for p in parts) + "$"
            self._templates.append((template, re.compile(regex)))
        self._schema_cache = {}

    # -- $ref resolution --------------------------------------------------
    def _deref(self, ref):
        if not ref.startswith("#/"):
            raise ValueError("external $ref not supported: %s" % ref)
        node = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[part]
        return node

    def resolve(self, node, seen=()):
        """node with every $ref replaced by its target (recursively)."""
        if isinstance(node, dict):
            if "$ref" in node:
                ref = node["$ref"]
                if ref in seen:
                    raise ValueError("recursive $ref %s" % ref)
                return self.resolve(self._deref(ref), seen + (ref,))
            return {k: self.resolve(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [self.resolve(v, seen) for v in node]
        return node

    # -- OpenAPI schema -> JSON Schema ------------------------------------
    def to_json_schema(self, schema):
        schema = copy.deepcopy(schema)

        def conv(s):
            if isinstance(s, list):
                return [conv(x) for x in s]
            if not isinstance(s, dict):
                return s
            out = {}
            for k, v in s.items():
                if k in _OAS_ONLY:
                    continue
                if k in ("properties", "patternProperties", "definitions"):
                    out[k] = {pk: conv(pv) for pk, pv in v.items()}
                elif k in ("items", "additionalProperties", "not"):
                    out[k] = conv(v)
                elif k in ("allOf", "anyOf", "oneOf"):
                    out[k] = [conv(x) for x in v]
                else:
                    out[k] = v
            if s.get("nullable") is True:
                t = out.get("type")
                if isinstance(t, str):
                    out["type"] = [t, "null"]
                elif isinstance(t, list) and "null" not in t:
                    out["type"] = t + ["null"]
                if "enum" in out and None not in out["enum"]:
                    out["enum"] = list(out["enum"]) + [None]
                # allOf/oneOf members do not see nullable: wrap.
                if "type" not in out and any(k in out for k in ("allOf", "anyOf", "oneOf")):
                    out = {"anyOf": [out, {"type": "null"}]}
            return out

        return conv(schema)

    # -- lookup -------------------------------------------------------------
    def match_path(self, api_path):
        """The path template matching api_path (below base_path), or None."""
        for template, regex in self._templates:
            if regex.match(api_path):
                return template
        return None

    def validate_response(self, api_path, method, status, headers, body):
        """Return a list of problems ([] when the response conforms), or None
        when the path is not described by the spec (conformance skipped).

        api_path: path below base_path, query stripped, percent-decoded once.
        headers: list of (name, value).  body: bytes.
        """
        template = self.match_path(api_path)
        if template is None:
            return None
        item = self.paths[template]
        op = item.get(method.lower())
        if op is None:
            # A method the path does not take: the 405 answer is described
            # under the path's operations; use the (only) one there is.
            ops = [v for k, v in item.items()
                   if k in ("get", "put", "post", "delete", "options", "head", "patch", "trace")]
            if len(ops) != 1:
                return ["no operation %s %s in the spec" % (method, template)]
            op = ops[0]
        responses = op.get("responses", {})
        resp = responses.get(str(status))
        if resp is None:
            resp = responses.get("%dXX" % (status // 100))
        if resp is None:
            resp = responses.get("default")
        if resp is None:
            return ["status %d is not declared for %s %s" % (status, method, template)]
        resp = self.resolve(resp)
        problems = []
        hmap = {}
        for name, value in headers:
            hmap.setdefault(name.lower(), []).append(value)
        for hname, hdef in (resp.get("headers") or {}).items():
            values = hmap.get(hname.lower())
            if not values:
                if hdef.get("required"):
                    problems.append("required header %s missing" % hname)
                continue
            hschema = hdef.get("schema")
            if hschema is None:
                continue
            js = self.to_json_schema(hschema)
            for value in values:
                inst = value
                if js.get("type") == "integer":
                    try:
                        inst = int(value.strip())
                        if str(inst) != value.strip():
                            raise ValueError
                    except ValueError:
                        problems.append("header %s: %r is not an integer" % (hname, value))
                        continue
                for err in jsonschema.Draft4Validator(js, format_checker=_format_checker).iter_errors(inst):
                    problems.append("header %s: %s" % (hname, err.message))
        content = resp.get("content")
        ctype = (hmap.get("content-type") or [None])[0]
        if not content:
            if body:
                problems.append("status %d declares no body, got %d bytes" % (status, len(body)))
            return problems
        if ctype is None:
            problems.append("no Content-Type; the spec declares %s" % ", ".join(content))
            return problems
        media = ctype.split(";")[0].strip().lower()
        mt = None
        for declared, mdef in content.items():
            if declared.lower() == media:
                mt = mdef
        if mt is None:
            problems.append("Content-Type %s not among %s" % (media, ", ".join(content)))
            return problems
        schema = mt.get("schema")
        if schema is None:
            return problems
        try:
            inst = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            problems.append("body is not JSON: %s" % e)
            return problems
        js = self.to_json_schema(schema)
        for err in jsonschema.Draft4Validator(js, format_checker=_format_checker).iter_errors(inst):
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            problems.append("body %s: %s" % (where, err.message))
        return problems


def api_path_of(request_path, base_path):
    """The path below base_path of a raw request path, or None when the raw
    path is not below base_path on a '/' boundary.  Query stripped and
    percent-decoded once (as tokend routes), for matching templates only."""
    path = request_path.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith(base_path + "/"):
        return None
    rest = path[len(base_path):]
    raw = rest
    if "%2f" in raw.lower() or "%00" in raw:
        return None
    rest = urllib.parse.unquote(rest)
    segs = rest.split("/")[1:]
    if any(s in ("", ".", "..") for s in segs):
        return None
    return rest


def check_uuid(s):
    uuid.UUID(s)
    return bool(UUID_RE.match(s))
