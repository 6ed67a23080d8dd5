"""Answers of `mts serve` checked against docs/openapi.json, with the standard
library only: the operation of the method and path (a path that is no route
must be a 404, a method a route does not take a 405, both with their
components/responses), the status among its documented answers, the content
type among the answer's media types, the headers it marks required, and the
body against the media type's schema.

The schema checker implements the part of JSON Schema 2020-12 the document
uses, written here from the specification (not from any validator): type
(one or a list: null, boolean, object, array, number, integer, string),
properties, required, additionalProperties (boolean or schema), items
(schema or false), prefixItems, enum, const, oneOf, anyOf, allOf, $ref (local
"#/..." pointers), minimum, maximum, exclusiveMinimum, exclusiveMaximum,
minItems, maxItems, minLength, maxLength, pattern, minProperties.
Keywords it does not know make it fail loudly, so the document cannot
quietly outgrow the checker.

mtslib hands every answer a test receives through a request helper to
check_response (the hook), which raises Mismatch: the test fails."""
import json
import os
import re
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC_PATH = os.path.join(ROOT, "docs", "openapi.json")

# keywords that only describe (no constraint)
_ANNOTATIONS = {"description", "title", "default", "examples", "example", "deprecated", "readOnly",
                "writeOnly", "format", "$comment"}
_KNOWN = _ANNOTATIONS | {"type", "properties", "required", "additionalProperties", "items", "prefixItems", "enum",
                         "const", "oneOf", "anyOf", "allOf", "$ref", "minimum", "maximum", "exclusiveMinimum",
                         "exclusiveMaximum", "minItems", "maxItems", "minLength", "maxLength", "pattern",
                         "minProperties"}


class Mismatch(AssertionError):
    pass


def _type_ok(t, v):
    if t == "null":
        return v is None
    if t == "boolean":
        return isinstance(v, bool)
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "integer":   # 2020-12: a number with a zero fractional part
        return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    raise Mismatch("schema: unknown type %r" % t)


def _equal(a, b):
    """JSON equality (1 == 1.0, True != 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


class Checker:
    def __init__(self, doc):
        self.doc = doc
        self.routes = []   # (regex, template, path item)
        for tmpl, item in doc["paths"].items():
            rx = "^" + re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(tmpl)) + "$"
            self.routes.append((re.compile(rx), tmpl, item))

    # ---- JSON Schema ----
    def ref(self, r):
        if not r.startswith("#/"):
            raise Mismatch("schema: only local $ref are supported, got %r" % r)
        node = self.doc
        for part in r[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def errors(self, schema, v, where="$"):
        """The ways v fails schema, as 'where: why' strings ([] = valid)."""
        if schema is True:
            return []
        if schema is False:
            return ["%s: not allowed here" % where]
        unknown = set(schema) - _KNOWN
        if unknown:
            raise Mismatch("schema at %s uses keywords the checker does not implement: %s" % (where, sorted(unknown)))
        out = []
        if "$ref" in schema:
            out += self.errors(self.ref(schema["$ref"]), v, where)
        if "type" in schema:
            ts = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_type_ok(t, v) for t in ts):
                return out + ["%s: %s is not of type %s" % (where, json.dumps(v)[:80], "/".join(ts))]
        if "enum" in schema and not any(_equal(v, e) for e in schema["enum"]):
            out.append("%s: %s is not one of %s" % (where, json.dumps(v)[:80], schema["enum"]))
        if "const" in schema and not _equal(v, schema["const"]):
            out.append("%s: %s is not %s" % (where, json.dumps(v)[:80], json.dumps(schema["const"])))
        for k in ("allOf",):
            for i, s in enumerate(schema.get(k, [])):
                out += self.errors(s, v, where)
        if "anyOf" in schema:
            errs = [self.errors(s, v, where) for s in schema["anyOf"]]
            if all(errs):
                out.append("%s: matches none of anyOf: %s" % (where, " | ".join("; ".join(e) for e in errs)))
        if "oneOf" in schema:
            errs = [self.errors(s, v, where) for s in schema["oneOf"]]
            n = sum(1 for e in errs if not e)
            if n != 1:
                out.append("%s: matches %d of oneOf (exactly one needed)%s" % (
                    where, n, ": " + " | ".join("; ".join(e) for e in errs) if n == 0 else ""))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if "minimum" in schema and v < schema["minimum"]:
                out.append("%s: %s < minimum %s" % (where, v, schema["minimum"]))
            if "maximum" in schema and v > schema["maximum"]:
                out.append("%s: %s > maximum %s" % (where, v, schema["maximum"]))
            if "exclusiveMinimum" in schema and v <= schema["exclusiveMinimum"]:
                out.append("%s: %s <= exclusiveMinimum %s" % (where, v, schema["exclusiveMinimum"]))
            if "exclusiveMaximum" in schema and v >= schema["exclusiveMaximum"]:
                out.append("%s: %s >= exclusiveMaximum %s" % (where, v, schema["exclusiveMaximum"]))
        if isinstance(v, str):
            if "minLength" in schema and len(v) < schema["minLength"]:
                out.append("%s: shorter than %d" % (where, schema["minLength"]))
            if "maxLength" in schema and len(v) > schema["maxLength"]:
                out.append("%s: longer than %d" % (where, schema["maxLength"]))
            if "pattern" in schema and not re.search(schema["pattern"], v):
                out.append("%s: %r does not match %s" % (where, v[:80], schema["pattern"]))
        if isinstance(v, list):
            if "minItems" in schema and len(v) < schema["minItems"]:
                out.append("%s: fewer than %d items" % (where, schema["minItems"]))
            if "maxItems" in schema and len(v) > schema["maxItems"]:
                out.append("%s: more than %d items" % (where, schema["maxItems"]))
            pre = schema.get("prefixItems", [])
            for i, s in enumerate(pre[:len(v)]):
                out += self.errors(s, v[i], "%s[%d]" % (where, i))
            if "items" in schema:
                for i in range(len(pre), len(v)):
                    out += self.errors(schema["items"], v[i], "%s[%d]" % (where, i))
                    if len(out) > 20:
                        break
        if isinstance(v, dict):
            props = schema.get("properties", {})
            for k in schema.get("required", []):
                if k not in v:
                    out.append("%s: required key %r is missing" % (where, k))
            if "minProperties" in schema and len(v) < schema["minProperties"]:
                out.append("%s: fewer than %d keys" % (where, schema["minProperties"]))
            extra = schema.get("additionalProperties", True)
            for k, x in v.items():
                if k in props:
                    out += self.errors(props[k], x, "%s.%s" % (where, k))
                elif extra is False:
                    out.append("%s: key %r is not in the schema" % (where, k))
                elif isinstance(extra, dict):
                    out += self.errors(extra, x, "%s.%s" % (where, k))
        return out

    # ---- operations ----
    def route(self, path):
        """(template, path item) of a request path, or (None, None): a path
        that is no route (its parameters must fit their schemas too)."""
        p = urllib.parse.urlsplit(path).path
        for rx, tmpl, item in self.routes:
            m = rx.match(p)
            if not m:
                continue
            ok = True
            for name, raw in m.groupdict().items():
                params = [x for op in item.values() if isinstance(op, dict)
                          for x in op.get("parameters", []) if x.get("in") == "path" and x["name"] == name]
                for prm in params:
                    val = urllib.parse.unquote(raw)
                    if prm["schema"].get("type") == "integer":
                        if not re.fullmatch(r"[0-9]{1,18}", val):
                            ok = False
                            break
                        val = int(val)
                    if self.errors(prm["schema"], val):
                        ok = False
                        break
            if ok:
                return tmpl, item
        return None, None

    def expected(self, method, path, status):
        """(what, response object) the document gives for this answer; Mismatch when none."""
        tmpl, item = self.route(path)
        responses = self.doc["components"]["responses"]
        if tmpl is None:
            if status == 404:
                return "no route", responses["NotFound"]
            if status == 503:
                return "no route", responses["Unavailable"]
            raise Mismatch("%s %s: no route in docs/openapi.json matches the path, so the answer must be 404 "
                           "(components/responses/NotFound), got %d" % (method, path, status))
        op = item.get(method.lower())
        if op is None:
            if status == 405:
                return "%s (method not taken)" % tmpl, responses["MethodNotAllowed"]
            if status == 503:
                return tmpl, responses["Unavailable"]
            raise Mismatch("%s %s: docs/openapi.json has no %s operation on %s, so the answer must be 405 "
                           "(components/responses/MethodNotAllowed), got %d" % (method, path, method, tmpl, status))
        rs = op["responses"]
        r = rs.get(str(status)) or rs.get("%dXX" % (status // 100)) or rs.get("default")
        if r is None:
            raise Mismatch("%s %s: status %d is not documented for %s %s in docs/openapi.json (documented: %s)"
                           % (method, path, status, method, tmpl, ", ".join(sorted(rs))))
        if "$ref" in r:
            r = self.ref(r["$ref"])
        return "%s %s %d" % (method, tmpl, status), r

    def check(self, method, path, status, headers, body):
        """Raises Mismatch unless the answer is one the document describes."""
        what, r = self.expected(method, path, status)
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        for name, h in (r.get("headers") or {}).items():
            if "$ref" in h:
                h = self.ref(h["$ref"])
            if h.get("required") and name.lower() not in headers:
                raise Mismatch("%s %s -> %s: header %s is required by docs/openapi.json and was not sent"
                               % (method, path, what, name))
        content = r.get("content")
        if not content:
            if body:
                raise Mismatch("%s %s -> %s: docs/openapi.json gives no body, got %d bytes" % (method, path, what, len(body)))
            return
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        media = content.get(ctype)
        if media is None:
            raise Mismatch("%s %s -> %s: content type %r is not one of %s" % (method, path, what, ctype, sorted(content)))
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        if ctype.endswith("json"):
            try:
                value = json.loads(body)
            except ValueError as e:
                raise Mismatch("%s %s -> %s: the body is not JSON (%s): %r" % (method, path, what, e, body[:200]))
        else:
            value = body
        errs = self.errors(media.get("schema", True), value)
        if errs:
            raise Mismatch("%s %s -> %s: the body does not match docs/openapi.json:\n  %s\nbody: %s"
                           % (method, path, what, "\n  ".join(errs[:12]), body[:1500]))


_checker = None


def load(path=DOC_PATH):
    with open(path) as f:
        return Checker(json.load(f))


def check_response(method, path, status, headers, body):
    """The mtslib hook: every answer of `mts serve` a test receives."""
    global _checker
    if _checker is None:
        _checker = load()
    _checker.check(method, path, status, headers, body)
