#!/usr/bin/env python3
"""check_prometheus.py URL healthy|down - asks a running Prometheus, started by
tools/check-observability.sh --live with the shipped config and rules and
pointed at a live troupe.

  healthy  every rule group loaded; troupe scraped (up == 1); every recording
           and alert rule evaluated without an error after that scrape; and
           TroupeDown is not active (quiet on a healthy node)
  down     (after the script killed troupe) TroupeDown becomes active for its
           instance: the real alert rule sees the real failure (it stays
           "pending" for its `for: 2m` before it would page)

Standard library only; each wait is bounded (30 s)."""
import json
import sys
import time
import urllib.parse
import urllib.request


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=5) as r:
        return json.load(r)["data"]


def query(base, q):
    return get(base, "/api/v1/query?query=" + urllib.parse.quote(q))["result"]


def alerts(base, name):
    return [a for a in get(base, "/api/v1/alerts")["alerts"] if a["labels"]["alertname"] == name]


def healthy(base):
    problems, seen_up = ["Prometheus did not answer"], None
    deadline = time.time() + 30
    while time.time() < deadline:
        time.sleep(1)
        try:
            targets = get(base, "/api/v1/targets")["activeTargets"]
            groups = get(base, "/api/v1/rules")["groups"]
            up = query(base, 'up{job="troupe"}')
        except (OSError, ValueError, KeyError) as e:
            problems = ["Prometheus: %s" % e]
            continue
        problems = []
        troupe = [t for t in targets if t["labels"].get("job") == "troupe"]
        if not troupe or troupe[0]["health"] != "up":
            problems.append("troupe target not up: %s" % (troupe[0].get("lastError") if troupe else "none"))
        if not up or up[0]["value"][1] != "1":
            problems.append("up{job=troupe} is not 1")
        elif seen_up is None:
            seen_up = time.time()
        rules = [r for g in groups for r in g["rules"]]
        if not rules:
            problems.append("no rule groups loaded")
        bad = ["%s: %s" % (r["name"], r.get("lastError")) for r in rules if r.get("health") not in ("ok", "unknown")]
        if bad:
            print("rules that failed to evaluate:\n  " + "\n  ".join(bad))
            return 1
        # every group must have evaluated again after troupe was first seen up
        stale = [g["name"] for g in groups
                 if seen_up is None or g.get("lastEvaluation", "0001")[:4] == "0001"
                 or time.time() - seen_up < 2 * max(g.get("interval", 1), 1)]
        if stale:
            problems.append("waiting for rule groups to evaluate after the first scrape")
        if problems:
            continue
        active = alerts(base, "TroupeDown")
        if active:
            print("TroupeDown is %s while troupe is up" % active[0]["state"])
            return 1
        kinds = {}
        for r in rules:
            kinds[r["type"]] = kinds.get(r["type"], 0) + 1
        print("prometheus: troupe up, %d groups, %d recording and %d alerting rules evaluated, all healthy; "
              "TroupeDown quiet" % (len(groups), kinds.get("recording", 0), kinds.get("alerting", 0)))
        return 0
    print("check_prometheus: " + "; ".join(problems))
    return 1


def down(base):
    deadline = time.time() + 30
    while time.time() < deadline:
        time.sleep(1)
        try:
            active = alerts(base, "TroupeDown")
        except (OSError, ValueError, KeyError):
            continue
        if any(a["labels"].get("instance") for a in active):
            a = active[0]
            print("prometheus: troupe killed -> TroupeDown %s for %s" % (a["state"], a["labels"]["instance"]))
            return 0
    print("check_prometheus: TroupeDown did not become active within 30 s of killing troupe")
    return 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in ("healthy", "down"):
        sys.exit(__doc__)
    sys.exit(healthy(sys.argv[1]) if sys.argv[2] == "healthy" else down(sys.argv[1]))
