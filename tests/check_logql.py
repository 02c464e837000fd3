#!/usr/bin/env python3
"""check_logql.py - the LogQL examples in docs/ (runbooks, observability.md)
must match what troupe really logs: every `msg="..."` (or each alternative of
`msg=~"a|b"`) is a message string in the C sources, every field a query
filters on, unwraps or prints (`| status >= 500`, `unwrap duration_ms`,
`{{.task_id}}`) is a key the code logs, and the labels are the ones
deploy/loki ships (job, host, unit, level, actor). Standard library only."""
import glob
import re
import sys

LABELS = {"job", "host", "unit", "level", "actor"}
ALWAYS = {"ts", "level", "msg", "actor", "trace_id", "span_id"}  # written by tr_log itself


def sources():
    text = []
    for pat in ("runtime/*.c", "actors/**/*.c", "tools/cli/*.c"):
        for p in glob.glob(pat, recursive=True):
            text.append(open(p, encoding="utf-8").read())
    return "\n".join(text)


def main():
    src = sources()
    literals = set(re.findall(r'"((?:[^"\\\n]|\\.)*)"', src))
    docs = glob.glob("docs/runbooks/*.md") + ["docs/observability.md"]
    bad, n = [], 0
    for p in docs:
        for i, line in enumerate(open(p, encoding="utf-8"), 1):
            if '{job="troupe"' not in line:
                continue
            n += 1
            where = "%s:%d" % (p, i)
            for sel in re.findall(r"\{([^}]*)\}", line.split("|")[0] if "|" in line else line):
                for lab in re.findall(r'(\w+)\s*=~?', sel):
                    if lab not in LABELS:
                        bad.append("%s: %s is not a Loki label troupe's promtail config sets" % (where, lab))
            for op, val in re.findall(r'\|\s*msg\s*(=~|=)\s*"([^"]*)"', line):
                for m in (val.split("|") if op == "=~" else [val]):
                    if m not in literals:
                        bad.append('%s: no log message "%s" in the sources' % (where, m))
            if "| json" not in line:
                continue
            after = line.split("| json", 1)[1]
            fields = set(re.findall(r"\|\s*(\w+)\s*(?:=~|!=|>=|<=|=|>|<)", after))
            fields |= set(re.findall(r"unwrap\s+(\w+)", after))
            fields |= set(re.findall(r"\{\{\s*\.(\w+)\s*\}\}", after))
            fields -= {"msg"}
            for f in sorted(fields - ALWAYS - LABELS):
                if f not in literals:
                    bad.append("%s: field %s is never logged" % (where, f))
    for b in bad:
        print(b)
    print("check_logql: %d LogQL lines in %d files, %s" % (n, len(docs), "ok" if not bad else "%d problems" % len(bad)))
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
