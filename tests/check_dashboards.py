#!/usr/bin/python3
"""check_dashboards.py - every metric a dashboard or a rule uses must exist.

    /usr/bin/python3 tests/check_dashboards.py METRICS_FILE [options]

METRICS_FILE is the text of GET /metrics (its "# TYPE" lines, and sample lines
for names without one). The script reads every Grafana dashboard JSON
(deploy/grafana/dashboards/*.json: panel targets, nested row panels, template
variable queries) and every Prometheus rule file (deploy/prometheus/rules/*.yml:
each expr), pulls the metric names out of the PromQL (string literals and
comments removed first), and checks them:

  - troupe_* names must be exposed: a histogram's _bucket/_sum/_count are
    accepted when the histogram is (and name_total when an OpenMetrics
    listing calls the counter "name");
  - recording-rule names (level:metric:operations, with a colon) must be
    recorded by the rule files;
  - names listed in deploy/prometheus/pending-metrics.txt (metrics the code
    does not expose yet) are reported as pending, not as errors, unless
    --strict; a pending name that is now exposed is reported so it can be
    struck from the list.

Loki (LogQL) targets are skipped. Other names (up, ALERTS) are Prometheus' own.
With --coverage it also lists exposed troupe_* metrics that no dashboard shows
(directly or through a recording rule), and fails if there are any.
Exit status: 0 all known, 1 unknown names (listed), 2 bad input.
Standard library only.
"""
import argparse
import glob
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
RECORDED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:[A-Za-z0-9_:]*$")
SUFFIXES = ("_bucket", "_sum", "_count")


def strip_promql(expr):
    """PromQL without string literals and comments (label values, regexes)."""
    out, i, n = [], 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if expr[j] == "\\" and c != "`" else 1
            out.append(" ")
            i = j + 1
        elif c == "#":
            while i < n and expr[i] != "\n":
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def names_in(expr):
    """Metric names in a PromQL expression: troupe_* and recorded (x:y) names."""
    text = strip_promql(expr)
    text = re.sub(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*", " ", text)  # Grafana variables
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations ([5m:1m])
    found = set()
    for m in NAME.finditer(text):
        tok = m.group(0)
        if m.start() > 0 and (text[m.start() - 1].isdigit() or text[m.start() - 1] == "."):
            continue  # tail of a number or duration
        if tok.startswith("troupe_") or RECORDED.match(tok):
            found.add(tok)
    return found


def read_listing(path):
    types = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("# TYPE "):
                parts = line.split()
                if len(parts) >= 4:
                    types[parts[2]] = parts[3]
            elif line and not line.startswith("#"):
                m = NAME.match(line)
                if m and m.group(0) not in types:
                    base = m.group(0)
                    for s in SUFFIXES:
                        if base.endswith(s) and base[: -len(s)] in types:
                            base = None
                            break
                    if base:
                        types.setdefault(base, "untyped")
    return types


def exposed(name, types):
    """The family name this metric name belongs to, or None."""
    if name in types:
        return name
    for s in SUFFIXES:
        if name.endswith(s):
            base = name[: -len(s)]
            if types.get(base) == "histogram" or (s != "_bucket" and types.get(base) == "summary"):
                return base
    if name.endswith("_total") and types.get(name[: -len("_total")]) == "counter":
        return name[: -len("_total")]
    return None


def read_pending(path):
    pending = {}
    if not path or not os.path.exists(path):
        return pending
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                pending[line.split()[0]] = line
    return pending


def rule_exprs(path):
    """(where, expr) for each expr of a rule file, and the recorded names.

    A small reader for the rule files' shape (no YAML module in the standard
    library): `record:`/`alert:` lines, `expr:` inline or as a block scalar."""
    exprs, recorded = [], set()
    lines = open(path, encoding="utf-8").read().split("\n")
    current = "?"
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)(?:-\s+)?(record|alert|expr):\s*(.*)$", line)
        if not m:
            i += 1
            continue
        indent, key, value = len(m.group(1)), m.group(2), m.group(3).strip()
        if key in ("record", "alert"):
            current = value.strip("'\"")
            if key == "record":
                recorded.add(current)
            i += 1
            continue
        if value[:1] in ("|", ">"):
            block = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            value = "\n".join(block)
        else:
            i += 1
            if value[:1] in ("'", '"') and value[-1:] == value[:1]:
                value = value[1:-1]
                if m.group(3).strip()[:1] == "'":
                    value = value.replace("''", "'")
                else:
                    value = value.encode().decode("unicode_escape")
        exprs.append(("%s: %s" % (os.path.relpath(path, ROOT), current), value))
    return exprs, recorded


def dashboard_exprs(path):
    """(where, expr) for each PromQL query of a dashboard (Loki ones skipped)."""
    d = json.load(open(path, encoding="utf-8"))
    rel = os.path.relpath(path, ROOT)
    out = []

    def is_loki(ds):
        return isinstance(ds, dict) and ds.get("type") == "loki" or (isinstance(ds, str) and "loki" in ds.lower())

    def walk_panels(panels):
        for p in panels or []:
            ds = p.get("datasource")
            for t in p.get("targets") or []:
                if is_loki(t.get("datasource")) or (is_loki(ds) and not t.get("datasource")):
                    continue
                if t.get("expr"):
                    out.append(("%s: panel %r" % (rel, p.get("title", "")), t["expr"]))
            walk_panels(p.get("panels"))

    walk_panels(d.get("panels"))
    for v in (d.get("templating") or {}).get("list") or []:
        if v.get("type") != "query" or is_loki(v.get("datasource")):
            continue
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if q:
            out.append(("%s: variable %r" % (rel, v.get("name", "")), q))
    for a in (d.get("annotations") or {}).get("list") or []:
        if a.get("expr") and not is_loki(a.get("datasource")):
            out.append(("%s: annotation %r" % (rel, a.get("name", "")), a["expr"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("metrics", help="output of GET /metrics")
    ap.add_argument("--dashboards", default=os.path.join(ROOT, "deploy/grafana/dashboards"))
    ap.add_argument("--rules", default=os.path.join(ROOT, "deploy/prometheus/rules"))
    ap.add_argument("--pending", default=os.path.join(ROOT, "deploy/prometheus/pending-metrics.txt"))
    ap.add_argument("--strict", action="store_true", help="pending names are errors too")
    ap.add_argument("--coverage", action="store_true", help="fail if an exposed troupe_* metric is on no dashboard")
    a = ap.parse_args()

    try:
        types = read_listing(a.metrics)
    except OSError as e:
        print("check_dashboards: %s" % e, file=sys.stderr)
        return 2
    if not any(n.startswith("troupe_") for n in types):
        print("check_dashboards: %s lists no troupe_* metric (not a /metrics scrape?)" % a.metrics, file=sys.stderr)
        return 2
    pending = read_pending(a.pending)

    uses, recorded, rule_uses = [], set(), {}
    for p in sorted(glob.glob(os.path.join(a.rules, "*.yml")) + glob.glob(os.path.join(a.rules, "*.yaml"))):
        ex, rec = rule_exprs(p)
        recorded |= rec
        uses += ex
        for where, e in ex:
            rule_uses.setdefault(where.split(": ", 1)[1], set()).update(names_in(e))
    dash = []
    files = sorted(glob.glob(os.path.join(a.dashboards, "*.json")))
    if not files:
        print("check_dashboards: no dashboards in %s" % a.dashboards, file=sys.stderr)
        return 2
    for p in files:
        try:
            dash += dashboard_exprs(p)
        except ValueError as e:
            print("check_dashboards: %s: %s" % (p, e), file=sys.stderr)
            return 1
    uses += dash

    unknown, pend = {}, {}
    for where, expr in uses:
        for n in sorted(names_in(expr)):
            if RECORDED.match(n):
                if n not in recorded:
                    unknown.setdefault(n, []).append(where)
            elif exposed(n, types):
                continue
            elif n in pending or any(n.endswith(s) and n[: -len(s)] in pending for s in SUFFIXES):
                pend.setdefault(n, []).append(where)
            else:
                unknown.setdefault(n, []).append(where)

    print("check_dashboards: %d dashboards, %d PromQL queries, %d rule expressions, %d exposed metric families"
          % (len(files), len(dash), len(uses) - len(dash), len(types)))
    for n in sorted(pend):
        print("  pending (deploy/prometheus/pending-metrics.txt, not exposed yet): %s  used by %s"
              % (n, "; ".join(sorted(set(pend[n])))))
    for n in sorted(pending):
        if exposed(n, types):
            print("  note: pending metric %s is exposed now: strike it from the pending list" % n)

    bad = 0
    if a.coverage:
        shown = set()
        for _, expr in dash:
            for n in names_in(expr):
                stack = [n]
                while stack:  # follow recording rules down to raw metrics
                    x = stack.pop()
                    if x in shown:
                        continue
                    shown.add(x)
                    stack += list(rule_uses.get(x, ()))
        fams = {exposed(n, types) for n in shown if exposed(n, types)}
        missing = sorted(n for n in types if n.startswith("troupe_") and n not in fams)
        for n in missing:
            print("  not on any dashboard: %s (%s)" % (n, types[n]))
        bad |= bool(missing)
    for n in sorted(unknown):
        print("  UNKNOWN metric %s  used by %s" % (n, "; ".join(sorted(set(unknown[n])))))
    if a.strict and pend:
        bad = 1
    if unknown:
        bad = 1
    print("check_dashboards: %s" % ("FAILED" if bad else "ok"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
