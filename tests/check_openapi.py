#!/usr/bin/python3
"""check_openapi.py - docs/openapi.yaml must describe the HTTP routes the
bridge really serves.

The route tables are read out of actors/http/*.c (lines like
  {"POST", "/v1/auth/login", RC_AUTH, false, false, RULES(login_rules), 200, do_login, "auth_login", 0},
see route_t in actors/http/http_internal.h), each RULES(x) resolved to the
field_rule_t x[] array of the same file. Then, per route:

- an operation with the same method and path exists, and no operation
  exists that no route serves;
- its operationId is the route's metrics name;
- the success status is among its responses;
- token routes require bearerAuth (with the `admin` role for admin-only
  routes, without it for the others) and document 401 (403 if admin-only);
  public routes do not require bearerAuth;
- rate-limited routes (RC_AUTH, RC_API) document 429;
- a route with RULES has a required application/json body whose schema
  has every rule's field (type, required, length/range, format) and no
  other (additionalProperties: false), and documents 400/413/415; a route
  without rules has no JSON body (and no body at all unless it takes a raw
  upload);
- path parameters are declared.

And the document: valid YAML, `openapi: 3.1.x`, info.version = the
project's VERSION, every local $ref resolves, operationIds are unique.

Usage: check_openapi.py [--root DIR] [--spec FILE]   (defaults: the
repository this file is in, DIR/docs/openapi.yaml). Exit 1 on a problem,
one line each. Debian's /usr/bin/python3 with python3-yaml."""
import argparse
import glob
import os
import re
import sys

try:
    import yaml
except ImportError:  # pragma: no cover
    print("check_openapi: python3-yaml is missing (apt-get install python3-yaml)")
    sys.exit(1)

HERE = os.path.dirname(os.path.abspath(__file__))
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
BEARER = "bearerAuth"
ADMIN_ROLE = "admin"

ROUTE_RE = re.compile(
    r'\{\s*"(?P<method>[A-Z]+)"\s*,\s*"(?P<path>/[^"]*)"\s*,\s*(?P<klass>RC_\w+)\s*,\s*'
    r'(?P<token>true|false)\s*,\s*(?P<admin>true|false)\s*,\s*'
    r'(?:NULL\s*,\s*0|RULES\(\s*(?P<rules>\w+)\s*\))\s*,\s*(?P<success>\d+)\s*,\s*(?P<handler>\w+)\s*,\s*'
    r'"(?P<name>\w+)"\s*,\s*(?P<raw>[^}]*?)\s*\}')
# anything that looks like a route line, to catch lines the regex above misses
ROUTE_LIKE_RE = re.compile(r'\{\s*"(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS)"\s*,\s*"/')
RULES_RE = re.compile(r'field_rule_t\s+(\w+)\s*\[\s*\]\s*=\s*\{(.*?)\};', re.S)
RULE_RE = re.compile(r'\{\s*"(\w+)"\s*,\s*(F_\w+)\s*,\s*(true|false)\s*,\s*(\d+)u?\s*,\s*(\d+)u?\s*,\s*(FMT_\w+)\s*\}')

JSON_TYPE = {"F_STRING": "string", "F_INT": "integer", "F_BOOL": "boolean", "F_OBJECT": "object",
             "F_ARRAY": "array"}


def strip_comments(src):
    src = re.sub(r'/\*.*?\*/', lambda m: "\n" * m.group(0).count("\n"), src, flags=re.S)
    return re.sub(r'//[^\n]*', "", src)


def read_routes(root, problems):
    files = sorted(glob.glob(os.path.join(root, "actors", "http", "*.c")))
    if not files:
        problems.append("no actors/http/*.c under %s" % root)
    routes = []
    for f in files:
        rel = os.path.relpath(f, root)
        src = strip_comments(open(f, encoding="utf-8").read())
        rules = {}
        for name, body in RULES_RE.findall(src):
            fields = []
            for fname, ftype, req, lo, hi, fmt in RULE_RE.findall(body):
                fields.append({"name": fname, "type": ftype, "required": req == "true", "min": int(lo),
                               "max": int(hi), "fmt": fmt})
            if body.count('{"') != len(fields):
                problems.append("%s: field_rule_t %s[]: %d entries, %d understood" %
                                (rel, name, body.count('{"'), len(fields)))
            rules[name] = fields
        found = 0
        for m in ROUTE_RE.finditer(src):
            found += 1
            line = src.count("\n", 0, m.start()) + 1
            r = {
                "method": m.group("method"), "path": m.group("path"), "klass": m.group("klass"),
                "token": m.group("token") == "true", "admin": m.group("admin") == "true",
                "rules_name": m.group("rules"), "success": m.group("success"), "name": m.group("name"),
                "raw": m.group("raw") not in ("0", "0u"), "where": "%s:%d" % (rel, line), "rules": None,
            }
            if r["rules_name"]:
                if r["rules_name"] not in rules:
                    problems.append("%s: RULES(%s) has no field_rule_t %s[] in the same file" %
                                    (r["where"], r["rules_name"], r["rules_name"]))
                    r["rules"] = []
                else:
                    r["rules"] = rules[r["rules_name"]]
            routes.append(r)
        like = len(ROUTE_LIKE_RE.findall(src))
        if like != found:
            problems.append("%s: %d route-like lines but only %d parsed: update ROUTE_RE in %s" %
                            (rel, like, found, os.path.basename(__file__)))
    return routes


class Doc:
    def __init__(self, data):
        self.data = data

    def resolve(self, node, seen=None):
        """Follows $ref chains; None if a ref does not resolve."""
        seen = seen or set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                return None
            seen.add(ref)
            node = self.pointer(ref)
        return node

    def pointer(self, ref):
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return None
        node = self.data
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node


def check_refs(doc, problems):
    def walk(node, where):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None and doc.pointer(ref) is None:
                problems.append("openapi: $ref %r at %s does not resolve" % (ref, where))
            for k, v in node.items():
                walk(v, where + "/" + str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s/%d" % (where, i))
    walk(doc.data, "#")


def types_of(schema):
    t = schema.get("type")
    if t is None:
        if "const" in schema:
            return {type_name(schema["const"])}
        if "enum" in schema:
            return {type_name(v) for v in schema["enum"]}
        return set()
    return set(t) if isinstance(t, list) else {t}


def type_name(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    return "object" if isinstance(v, dict) else "array"


def check_field(op, rule, schema, problems):
    f = rule["name"]
    want = JSON_TYPE.get(rule["type"])
    got = types_of(schema)
    if want not in got or got - {want, "null"}:
        problems.append("%s: body field %s is %s in the code, %s in openapi.yaml" %
                        (op, f, want, "/".join(sorted(got)) or "untyped"))
    if "null" in got and rule["required"]:
        problems.append("%s: body field %s is required by the rules but documented as nullable" % (op, f))
    lo, hi = rule["min"], rule["max"]
    if rule["type"] == "F_STRING":
        if schema.get("minLength", 0) != lo:
            problems.append("%s: body field %s: minLength %s, the rules say %d" % (op, f, schema.get("minLength"), lo))
        if hi and schema.get("maxLength") != hi:
            problems.append("%s: body field %s: maxLength %s, the rules say %d" % (op, f, schema.get("maxLength"), hi))
        fmt = rule["fmt"]
        if fmt == "FMT_EMAIL" and schema.get("format") != "email":
            problems.append("%s: body field %s must be documented with format: email" % (op, f))
        if fmt == "FMT_UUID" and schema.get("format") != "uuid":
            problems.append("%s: body field %s must be documented with format: uuid" % (op, f))
        if fmt == "FMT_ROLE" and sorted(v for v in schema.get("enum", []) if v is not None) != ["admin", "user"]:
            problems.append("%s: body field %s must be documented with enum [user, admin]" % (op, f))
        if fmt == "FMT_TOKEN" and schema.get("pattern") != "^[A-Za-z0-9_-]+$":
            problems.append("%s: body field %s must be documented with pattern ^[A-Za-z0-9_-]+$" % (op, f))
    elif rule["type"] == "F_INT" and (lo or hi):
        if schema.get("minimum") != lo or schema.get("maximum") != hi:
            problems.append("%s: body field %s: range %s..%s, the rules say %d..%d" %
                            (op, f, schema.get("minimum"), schema.get("maximum"), lo, hi))
    elif rule["type"] == "F_ARRAY" and hi and schema.get("maxItems") != hi:
        problems.append("%s: body field %s: maxItems %s, the rules say %d" % (op, f, schema.get("maxItems"), hi))


def check_body(doc, r, op, opname, problems):
    body = doc.resolve(op.get("requestBody")) if "requestBody" in op else None
    content = (body or {}).get("content") or {}
    json_media = doc.resolve(content.get("application/json"))
    if r["rules"] is None:
        if json_media is not None:
            problems.append("%s: documents a JSON body but the route has no RULES (it refuses JSON bodies)" % opname)
        if body is not None and not r["raw"]:
            problems.append("%s: documents a request body but the route takes none" % opname)
        if r["raw"] and body is None:
            problems.append("%s: the route takes a raw upload but no requestBody is documented" % opname)
        return
    if body is None or json_media is None:
        problems.append("%s: the route takes a JSON body (RULES(%s)) but no application/json requestBody is "
                        "documented" % (opname, r["rules_name"]))
        return
    if body.get("required") is not True:
        problems.append("%s: requestBody must be required: true (an empty body is refused)" % opname)
    schema = doc.resolve(json_media.get("schema"))
    if not isinstance(schema, dict):
        problems.append("%s: the JSON requestBody has no schema" % opname)
        return
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    if schema.get("additionalProperties") is not False:
        problems.append("%s: request schema must say additionalProperties: false (unknown fields are refused)" % opname)
    names = {x["name"] for x in r["rules"]}
    for x in r["rules"]:
        if x["name"] not in props:
            problems.append("%s: body field %s (rules %s) is not in the documented request schema" %
                            (opname, x["name"], r["rules_name"]))
            continue
        if x["required"] and x["name"] not in required:
            problems.append("%s: body field %s is required by the rules but not documented as required" %
                            (opname, x["name"]))
        fs = doc.resolve(props[x["name"]])
        if isinstance(fs, dict):
            check_field(opname, x, fs, problems)
    for p in sorted(props):
        if p not in names:
            problems.append("%s: documented body field %s is refused by the rules (%s)" % (opname, p, r["rules_name"]))
    for p in sorted(required):
        if p not in names or not any(x["name"] == p and x["required"] for x in r["rules"]):
            problems.append("%s: documented required field %s is not required by the rules (%s)" %
                            (opname, p, r["rules_name"]))


def check_security(doc, r, op, opname, problems):
    sec = op.get("security", doc.data.get("security"))
    reqs = sec if isinstance(sec, list) else []
    with_bearer = [q for q in reqs if isinstance(q, dict) and BEARER in q]
    if r["token"]:
        if not reqs or len(with_bearer) != len(reqs):
            problems.append("%s: needs a token but its security does not require %s in every alternative" %
                            (opname, BEARER))
        for q in with_bearer:
            roles = q.get(BEARER) or []
            if r["admin"] and ADMIN_ROLE not in roles:
                problems.append("%s: admin-only route but its %s requirement does not list the %r role" %
                                (opname, BEARER, ADMIN_ROLE))
            if not r["admin"] and roles:
                problems.append("%s: not admin-only but its %s requirement lists roles %s" % (opname, BEARER, roles))
    elif with_bearer:
        problems.append("%s: public route (no token) but documented with the %s requirement" % (opname, BEARER))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.dirname(HERE), help="repository root (default: this file's repo)")
    ap.add_argument("--spec", help="the OpenAPI document (default: ROOT/docs/openapi.yaml)")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    spec = a.spec or os.path.join(root, "docs", "openapi.yaml")
    problems = []

    routes = read_routes(root, problems)
    if not routes:
        problems.append("no routes found in actors/http/*.c")

    try:
        data = yaml.safe_load(open(spec, encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        print("openapi: %s is not readable YAML: %s" % (spec, e))
        print("check_openapi: 1 problem")
        return 1
    if not isinstance(data, dict):
        print("openapi: %s is not a YAML mapping" % spec)
        return 1
    doc = Doc(data)

    if not re.fullmatch(r"3\.1\.\d+", str(data.get("openapi", ""))):
        problems.append("openapi: version is %r, want 3.1.x" % data.get("openapi"))
    cm = os.path.join(root, "CMakeLists.txt")
    if os.path.exists(cm):
        m = re.search(r"project\(\s*\w+\s+VERSION\s+([\d.]+)", open(cm, encoding="utf-8").read())
        if m and str((data.get("info") or {}).get("version")) != m.group(1):
            problems.append("openapi: info.version is %r, CMakeLists.txt says %s" %
                            ((data.get("info") or {}).get("version"), m.group(1)))
    check_refs(doc, problems)
    schemes = ((data.get("components") or {}).get("securitySchemes") or {})
    bs = schemes.get(BEARER) or {}
    if bs.get("type") != "http" or str(bs.get("scheme", "")).lower() != "bearer" or bs.get("bearerFormat") != "JWT":
        problems.append("openapi: components.securitySchemes.%s must be http bearer with bearerFormat JWT" % BEARER)

    ops = {}
    ids = {}
    for path, item in (data.get("paths") or {}).items():
        item = doc.resolve(item) or {}
        for method in METHODS:
            if method in item:
                op = item[method] or {}
                ops[(method.upper(), path)] = (op, item)
                oid = op.get("operationId")
                if oid in ids:
                    problems.append("openapi: operationId %s used by %s and %s %s" % (oid, ids[oid], method.upper(), path))
                ids[oid] = "%s %s" % (method.upper(), path)

    served = set()
    for r in routes:
        key = (r["method"], r["path"])
        opname = "%s %s (%s, %s)" % (r["method"], r["path"], r["name"], r["where"])
        if key in served:
            problems.append("%s: the route tables serve this twice" % opname)
        served.add(key)
        if key not in ops:
            problems.append("%s: missing from openapi.yaml" % opname)
            continue
        op, item = ops[key]
        if op.get("operationId") != r["name"]:
            problems.append("%s: operationId is %r, want the route's metrics name %r" %
                            (opname, op.get("operationId"), r["name"]))
        responses = {str(k) for k in (op.get("responses") or {})}
        if r["success"] not in responses:
            problems.append("%s: success status %s is not among the documented responses %s" %
                            (opname, r["success"], sorted(responses)))
        check_security(doc, r, op, opname, problems)
        if r["token"] and "401" not in responses:
            problems.append("%s: needs a token but 401 is not documented" % opname)
        if r["admin"] and "403" not in responses:
            problems.append("%s: admin-only but 403 is not documented" % opname)
        if r["klass"] in ("RC_AUTH", "RC_API") and "429" not in responses:
            problems.append("%s: rate limited (%s) but 429 is not documented" % (opname, r["klass"]))
        if r["rules"] is not None:
            for st in ("400", "413", "415"):
                if st not in responses:
                    problems.append("%s: takes a JSON body but %s is not documented" % (opname, st))
        check_body(doc, r, op, opname, problems)
        params = [doc.resolve(p) or {} for p in (item.get("parameters") or []) + (op.get("parameters") or [])]
        declared = {p.get("name") for p in params if p.get("in") == "path"}
        for name in re.findall(r"\{(\w+)\}", r["path"]):
            if name not in declared:
                problems.append("%s: path parameter {%s} is not declared (in: path)" % (opname, name))
    for key in sorted(set(ops) - served):
        problems.append("%s %s: documented in openapi.yaml but no route serves it" % key)

    for p in problems:
        print(p)
    print("check_openapi: %d routes, %d operations, %s" %
          (len(routes), len(ops), "ok" if not problems else "%d problems" % len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
