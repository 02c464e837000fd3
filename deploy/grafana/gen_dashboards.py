#!/usr/bin/python3
"""gen_dashboards.py - writes deploy/grafana/dashboards/*.json.

    /usr/bin/python3 deploy/grafana/gen_dashboards.py

The JSON files are committed (Grafana provisions them as they are); this
script is how they are made, so that six dashboards share one style and one
set of datasource uids. Edit here, run, commit both. Standard library only.
tests/check_dashboards.py checks every metric name against a real scrape.
"""
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboards")
PROM = {"type": "prometheus", "uid": "troupe-prometheus"}
LOKI = {"type": "loki", "uid": "troupe-loki"}
INST = 'instance=~"$instance"'
API_EXCL = "health|ready|metrics|tasks_events|unmatched"


class Board:
    def __init__(self, uid, title, description, tags=()):
        self.uid, self.title, self.description = uid, title, description
        self.tags = ["troupe"] + list(tags)
        self.panels, self.vars = [], []
        self.x = self.y = self.row_h = 0
        self.next_id = 1
        self.var_instance()

    # -- layout: panels flow left to right, 24 columns wide
    def _pos(self, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append({"type": "row", "title": title, "id": self._id(), "collapsed": False,
                            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}, "panels": []})
        self.y += 1

    def _id(self):
        self.next_id += 1
        return self.next_id - 1

    def _panel(self, kind, title, targets, w, h, description="", ds=PROM, **extra):
        p = {"type": kind, "title": title, "id": self._id(), "datasource": ds, "gridPos": self._pos(w, h),
             "targets": targets}
        if description:
            p["description"] = description
        p.update(extra)
        self.panels.append(p)
        return p

    @staticmethod
    def _targets(queries, fmt=None, instant=False):
        out = []
        for i, q in enumerate(queries):
            expr, legend = (q, "") if isinstance(q, str) else q
            t = {"refId": chr(65 + i), "expr": expr, "legendFormat": legend or "__auto", "datasource": PROM}
            if fmt:
                t["format"] = fmt
            if instant:
                t["instant"], t["range"] = True, False
            out.append(t)
        return out

    # -- panel kinds
    def timeseries(self, title, queries, unit="short", w=12, h=8, description="", stack=False, thresholds=None,
                   min_=None, max_=None, overrides=None):
        defaults = {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                             "showPoints": "never", "spanNulls": True,
                                             "stacking": {"mode": "normal" if stack else "none"}}}
        if min_ is not None:
            defaults["min"] = min_
        if max_ is not None:
            defaults["max"] = max_
        if thresholds:
            defaults["thresholds"] = {"mode": "absolute", "steps": thresholds}
            defaults["custom"]["thresholdsStyle"] = {"mode": "line"}
        return self._panel("timeseries", title, self._targets(queries), w, h, description,
                           fieldConfig={"defaults": defaults, "overrides": overrides or []},
                           options={"legend": {"displayMode": "list", "placement": "bottom"},
                                    "tooltip": {"mode": "multi", "sort": "desc"}})

    def stat(self, title, queries, unit="short", w=4, h=4, description="", thresholds=None, mappings=None,
             decimals=None, color_mode="value"):
        defaults = {"unit": unit, "thresholds": {"mode": "absolute", "steps": thresholds or [
            {"color": "green", "value": None}]}, "mappings": mappings or []}
        if decimals is not None:
            defaults["decimals"] = decimals
        return self._panel("stat", title, self._targets(queries, instant=True), w, h, description,
                           fieldConfig={"defaults": defaults, "overrides": []},
                           options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                                    "colorMode": color_mode, "graphMode": "area", "textMode": "auto"})

    def bargauge(self, title, queries, unit="short", w=12, h=8, description="", thresholds=None, min_=None,
                 max_=None):
        defaults = {"unit": unit, "thresholds": {"mode": "absolute", "steps": thresholds or [
            {"color": "green", "value": None}]}}
        if min_ is not None:
            defaults["min"] = min_
        if max_ is not None:
            defaults["max"] = max_
        return self._panel("bargauge", title, self._targets(queries, instant=True), w, h, description,
                           fieldConfig={"defaults": defaults, "overrides": []},
                           options={"orientation": "horizontal", "displayMode": "gradient",
                                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})

    def state_timeline(self, title, queries, mappings, w=24, h=8, description="", thresholds=None):
        defaults = {"mappings": mappings, "thresholds": {"mode": "absolute", "steps": thresholds or [
            {"color": "green", "value": None}]}, "color": {"mode": "thresholds"}}
        return self._panel("state-timeline", title, self._targets(queries), w, h, description,
                           fieldConfig={"defaults": defaults, "overrides": []},
                           options={"showValue": "auto", "mergeValues": True, "rowHeight": 0.8})

    def table(self, title, queries, w=12, h=8, description="", unit="short"):
        return self._panel("table", title, self._targets(queries, fmt="table", instant=True), w, h, description,
                           fieldConfig={"defaults": {"unit": unit}, "overrides": []},
                           transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
                           options={"showHeader": True})

    def heatmap(self, title, expr, w=12, h=8, description=""):
        t = self._targets([(expr, "{{le}}")], fmt="heatmap")
        return self._panel("heatmap", title, t, w, h, description,
                           options={"calculate": False, "yAxis": {"unit": "s"},
                                    "cellGap": 1, "color": {"scheme": "Oranges", "mode": "scheme"}})

    def logs(self, title, expr, w=24, h=10, description=""):
        return self._panel("logs", title, [{"refId": "A", "expr": expr, "datasource": LOKI}], w, h, description,
                           ds=LOKI, options={"showTime": True, "wrapLogMessage": True, "prettifyLogMessage": False,
                                             "enableLogDetails": True, "sortOrder": "Descending"})

    def text(self, title, content, w=24, h=4):
        self.panels.append({"type": "text", "title": title, "id": self._id(), "gridPos": self._pos(w, h),
                            "options": {"mode": "markdown", "content": content}})

    # -- template variables
    def var_instance(self):
        self.vars.append({"name": "instance", "label": "node", "type": "query", "datasource": PROM,
                          "query": {"query": "label_values(troupe_process_uptime_seconds, instance)",
                                    "refId": "instance"},
                          "definition": "label_values(troupe_process_uptime_seconds, instance)",
                          "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "sort": 1,
                          "current": {"text": "All", "value": "$__all"}})

    def var(self, name, label, query, multi=True):
        self.vars.append({"name": name, "label": label, "type": "query", "datasource": PROM,
                          "query": {"query": query, "refId": name}, "definition": query,
                          "includeAll": multi, "multi": multi, "allValue": ".*" if multi else None,
                          "refresh": 2, "sort": 1, "current": {"text": "All", "value": "$__all"} if multi else {}})

    def write(self):
        d = {"uid": self.uid, "title": self.title, "description": self.description, "tags": self.tags,
             "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1, "timezone": "browser",
             "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
             "templating": {"list": self.vars},
             "annotations": {"list": [
                 {"name": "Annotations & Alerts", "builtIn": 1, "type": "dashboard", "enable": True,
                  "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                  "datasource": {"type": "grafana", "uid": "-- Grafana --"}},
                 {"name": "troupe restarts", "enable": True, "iconColor": "orange", "datasource": PROM,
                  "expr": "troupe_process_uptime_seconds{%s} < 90" % INST,
                  "titleFormat": "troupe (re)started", "textFormat": "{{instance}}", "step": "60s"}]},
             "links": [{"title": "troupe dashboards", "type": "dashboards", "tags": ["troupe"], "asDropdown": True,
                        "includeVars": True, "keepTime": True}],
             "panels": self.panels}
        path = os.path.join(OUT, self.uid.replace("troupe-", "") + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(d, f, indent=2, sort_keys=False)
            f.write("\n")
        return path


AGENT_MAP = [{"type": "value", "options": {
    "1": {"text": "up", "color": "green"}, "0.5": {"text": "degraded / busy", "color": "yellow"},
    "0": {"text": "down", "color": "red"}, "-1": {"text": "disabled", "color": "gray"}}}]
DB_MAP = [{"type": "value", "options": {"1": {"text": "up", "color": "green"}, "0": {"text": "down", "color": "red"}}}]
BREAKER_MAP = [{"type": "value", "options": {
    "0": {"text": "closed", "color": "green"}, "1": {"text": "half-open", "color": "yellow"},
    "2": {"text": "open", "color": "red"}}}]
RED_AT = lambda v: [{"color": "green", "value": None}, {"color": "red", "value": v}]  # noqa: E731
PCT_OK = [{"color": "red", "value": None}, {"color": "yellow", "value": 0.99}, {"color": "green", "value": 0.995}]
LOGS = '{job="troupe"}'


def overview():
    b = Board("troupe-overview", "troupe / overview",
              "One look: is troupe up, answering, fast, within its SLOs; agents, LLM, runtime.", ["overview"])
    b.row("Now")
    b.stat("nodes up", [('sum(up{job="troupe"})', "up")], w=3,
           thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
           description="Prometheus scrapes that succeed (alert TroupeDown).")
    b.stat("uptime", [("min(troupe_process_uptime_seconds{%s})" % INST, "")], unit="s", w=3)
    b.stat("API requests/s", [("troupe:http_requests:rate5m", "")], unit="reqps", w=3, decimals=2,
           description="All routes but health, ready, metrics, the SSE stream and unmatched (5m rate).")
    b.stat("5xx ratio", [("troupe:http_5xx:ratio_rate5m", "")], unit="percentunit", w=3, decimals=2,
           thresholds=[{"color": "green", "value": None}, {"color": "yellow", "value": 0.005},
                       {"color": "red", "value": 0.05}],
           description="Share of API requests answered 5xx over 5m (alert TroupeHigh5xxRatio over 5 %).")
    b.stat("API p95", [('troupe:http_request_duration_seconds:quantile_rate5m{quantile="0.95"}', "")],
           unit="s", w=3, thresholds=[{"color": "green", "value": None}, {"color": "yellow", "value": 0.25},
                                      {"color": "red", "value": 2}],
           description="95th percentile of API latency over 5m (plan: under 2 s).")
    b.stat("agents up / degraded / down",
           [("count(troupe_agent_up{%s} == 1) or vector(0)" % INST, "up"),
            ("count(troupe_agent_up{%s} == 0.5) or vector(0)" % INST, "degraded"),
            ("count(troupe_agent_up{%s} == 0) or vector(0)" % INST, "down")], w=3,
           description="From the health actor's pings (troupe_agent_up: 1 up, 0.5 degraded, 0 down, -1 disabled).")
    b.stat("Postgres", [("min(troupe_db_up{%s})" % INST, "")], w=2, mappings=DB_MAP, color_mode="background",
           thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
           description="troupe_db_up: the auth and task actors' last Postgres attempt worked (alert "
                       "TroupePostgresUnreachable).")
    b.stat("LLM breaker", [("max(troupe_llm_breaker_state{%s})" % INST, "")], w=2, mappings=BREAKER_MAP,
           thresholds=[{"color": "green", "value": None}, {"color": "yellow", "value": 1},
                       {"color": "red", "value": 2}], color_mode="background")
    b.row("Traffic and errors")
    b.timeseries("requests/s by status class", [("sum by (class) (route_class:troupe_http_requests:rate5m)",
                                                 "{{class}}")], unit="reqps", stack=True)
    b.timeseries("API latency", [
        ('troupe:http_request_duration_seconds:quantile_rate5m{quantile="0.5"}', "p50"),
        ('troupe:http_request_duration_seconds:quantile_rate5m{quantile="0.95"}', "p95"),
        ('troupe:http_request_duration_seconds:quantile_rate5m{quantile="0.99"}', "p99")], unit="s",
        thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 2}])
    b.timeseries("SLO burn rate (1h)", [("troupe:slo_burn_rate:1h", "{{slo}}")], w=12,
                 thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 6},
                             {"color": "red", "value": 14.4}],
                 description="1 = the 30-day error budget is spent exactly in 30 days. Pages at 14.4 (1h and 5m) "
                             "and 6 (6h and 30m); see the SLO dashboard.")
    b.bargauge("error budget remaining (30 d)", [("troupe:slo_error_budget_remaining:ratio", "{{slo}}")],
               unit="percentunit", w=12, min_=-1, max_=1,
               thresholds=[{"color": "red", "value": None}, {"color": "yellow", "value": 0},
                           {"color": "green", "value": 0.25}])
    b.row("Agents, tasks, runtime")
    b.state_timeline("agents", [("troupe_agent_up{%s}" % INST, "{{agent}}")], AGENT_MAP, w=12,
                     thresholds=[{"color": "gray", "value": None}, {"color": "red", "value": 0},
                                 {"color": "yellow", "value": 0.5}, {"color": "green", "value": 1}])
    b.timeseries("tasks finished/s by state", [("state:troupe_tasks_finished:rate5m", "{{state}}"),
                                               ("troupe:tasks_created:rate5m", "created")], unit="ops")
    b.timeseries("actor restarts (per 5m)",
                 [("sum by (actor) (increase(troupe_actor_restarts_total{%s}[5m])) > 0" % INST, "{{actor}}")],
                 w=8, description="Alert TroupeActorRestartStorm above 4 in 5 minutes.")
    b.timeseries("dead letters/s by reason", [("reason:troupe_dead_letters:rate5m", "{{reason}}")], unit="ops",
                 w=8, description="Alert TroupeDeadLettersRising above 0.05/s for 10 minutes.")
    b.timeseries("live actors", [("sum by (instance) (troupe_actors{%s})" % INST, "{{instance}}")], w=8)
    b.timeseries("resident memory", [("troupe_process_resident_memory_bytes{%s}" % INST, "{{instance}}")],
                 unit="bytes", w=8)
    b.timeseries("threads", [("troupe_process_threads{%s}" % INST, "{{instance}}")], w=8)
    b.timeseries("open file descriptors", [("troupe_process_open_fds{%s}" % INST, "{{instance}}")], w=8)
    b.timeseries("trace spans/s", [
        ("sum(rate(troupe_trace_spans_exported_total{%s}[5m]))" % INST, "exported"),
        ("sum(rate(troupe_trace_spans_dropped_total{%s}[5m]))" % INST, "dropped"),
        ("sum(rate(troupe_trace_export_failures_total{%s}[5m]))" % INST, "failed export requests")],
        unit="ops", w=12, description="OTLP/HTTP export to TROUPE_TRACE_OTLP_URL. Without a collector, spans stay "
                                      "in memory (GET /v1/admin/traces/{trace_id}) and nothing is exported.")
    b.timeseries("Postgres reachable", [("troupe_db_up{%s}" % INST, "{{instance}}")], w=12, min_=0, max_=1,
                 description="1 while the last connection attempt or statement worked.")
    b.row("Alerts and logs")
    b.table("firing troupe alerts", [('ALERTS{alertname=~"Troupe.*", alertstate="firing"}', "")], w=24, h=6)
    b.logs("warnings and errors (Loki)", '{job="troupe", level=~"warn|error"} | json',
           description="JSON log lines shipped by deploy/loki/promtail.yml; level and actor are labels.")
    return b


def agents():
    b = Board("troupe-agents", "troupe / agents and actors",
              "The five agents (health, restarts, mailboxes), every actor of the runtime, and the durable tasks.",
              ["agents"])
    b.var("agent", "agent", "label_values(troupe_agent_up, agent)")
    b.var("actor", "actor", "label_values(troupe_actor_messages_in_total, actor)")
    b.row("Agents")
    b.state_timeline("agent health", [('troupe_agent_up{%s,agent=~"$agent"}' % INST, "{{agent}}")], AGENT_MAP,
                     w=16, thresholds=[{"color": "gray", "value": None}, {"color": "red", "value": 0},
                                       {"color": "yellow", "value": 0.5}, {"color": "green", "value": 1}],
                     description="health actor pings every TROUPE_HEALTH_INTERVAL_MS; degraded = working without "
                                 "the LLM or busy; disabled = TROUPE_AGENT_<NAME>=off. Alert TroupeAgentDown.")
    b.table("agents now", [('troupe_agent_up{%s,agent=~"$agent"}' % INST, "")], w=8)
    b.timeseries("agent restarts (per 15m)",
                 [('sum by (actor) (increase(troupe_actor_restarts_total{%s,actor=~"$agent"}[15m]))' % INST,
                   "{{actor}}")], w=8)
    b.timeseries("agent messages handled/s",
                 [('sum by (actor) (rate(troupe_actor_messages_in_total{%s,actor=~"$agent"}[5m]))' % INST,
                   "{{actor}}")], unit="ops", w=8)
    b.timeseries("agent busy (share of time in handler)",
                 [('actor:troupe_actor_busy:ratio_rate5m{actor=~"$agent"}', "{{actor}}")], unit="percentunit",
                 w=8, min_=0)
    b.row("Tasks")
    b.stat("tasks created/s", [("troupe:tasks_created:rate5m", "")], unit="ops", w=4, decimals=3)
    b.stat("task success (1h)", [('1 - troupe:slo_errors:ratio_rate1h{slo="task-success"}', "")],
           unit="percentunit", w=4, decimals=1,
           thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 0.95}],
           description="Succeeded / (succeeded + failed); cancelled tasks are left out. SLO 95 %.")
    b.stat("unfinished since start",
           [("sum(troupe_tasks_created_total{%s}) - sum(troupe_tasks_finished_total{%s})" % (INST, INST), "")],
           w=4, description="Created minus finished since the process started (tasks resumed after a restart "
                            "are not counted as created again).")
    b.timeseries("tasks finished/s by state", [("state:troupe_tasks_finished:rate5m", "{{state}}")], unit="ops",
                 w=12, stack=True)
    b.timeseries("task duration (one attempt)", [
        ('troupe:task_duration_seconds:quantile_rate5m{quantile="0.5"}', "p50"),
        ('troupe:task_duration_seconds:quantile_rate5m{quantile="0.95"}', "p95"),
        ('troupe:task_duration_seconds:quantile_rate5m{quantile="0.99"}', "p99")], unit="s", w=12)
    b.heatmap("task duration distribution",
              "sum by (le) (increase(troupe_task_duration_seconds_bucket{%s}[$__rate_interval]))" % INST, w=12)
    b.row("Actors (runtime)")
    b.timeseries("messages in/s", [('actor:troupe_actor_messages_in:rate5m{actor=~"$actor"}', "{{actor}}")],
                 unit="ops", w=12)
    b.timeseries("messages out/s", [('actor:troupe_actor_messages_out:rate5m{actor=~"$actor"}', "{{actor}}")],
                 unit="ops", w=12)
    b.timeseries("mailbox depth", [('troupe_actor_mailbox_depth{%s,actor=~"$actor"}' % INST, "{{actor}}")],
                 w=12, thresholds=RED_AT(100), description="Alert TroupeMailboxBacklog above 100 for 10 minutes.")
    b.timeseries("busy (handler seconds per second)",
                 [('actor:troupe_actor_busy:ratio_rate5m{actor=~"$actor"}', "{{actor}}")], unit="percentunit",
                 w=12, min_=0)
    b.timeseries("dead letters/s by actor",
                 [('sum by (actor) (rate(troupe_actor_dead_letters_total{%s,actor=~"$actor"}[5m])) > 0' % INST,
                   "{{actor}}")], unit="ops", w=8)
    b.timeseries("dead letters/s by reason", [("reason:troupe_dead_letters:rate5m", "{{reason}}")], unit="ops",
                 w=8)
    b.timeseries("restarts by actor (per 15m)", [('actor:troupe_actor_restarts:increase15m{actor=~"$actor"} > 0',
                                                   "{{actor}}")], w=8)
    b.timeseries("live actors", [("sum by (instance) (troupe_actors{%s})" % INST, "{{instance}}")], w=12)
    b.table("restarts since start", [
        ('sort_desc(sum by (actor) (troupe_actor_restarts_total{%s,actor=~"$actor"}))' % INST, "")], w=12)
    b.row("Logs")
    b.logs("agent and actor logs (Loki)", '{job="troupe", actor=~"$agent|$actor"} | json')
    b.logs("restarts, crashes and dead letters (Loki)",
           LOGS + ' |~ "child restarted|actor crashed|actor init failed|dead letter" | json', h=8)
    return b


def http():
    b = Board("troupe-http", "troupe / HTTP gateway",
              "The HTTP bridge: traffic, errors, rate limiting, auth outcomes and latency by route.", ["http"])
    b.var("route", "route", "label_values(troupe_http_requests_total, route)")
    sel = '%s,route=~"$route"' % INST
    b.row("Traffic")
    b.timeseries("requests/s by route", [("sum by (route) (rate(troupe_http_requests_total{%s}[$__rate_interval]))"
                                          % sel, "{{route}}")], unit="reqps", stack=True)
    b.timeseries("requests/s by status", [("sum by (status) (rate(troupe_http_requests_total{%s}[$__rate_interval]))"
                                           % sel, "{{status}}")], unit="reqps", stack=True)
    b.row("Errors")
    b.timeseries("5xx ratio by route", [('route:troupe_http_5xx:ratio_rate5m{route=~"$route"}', "{{route}}")],
                 unit="percentunit", thresholds=RED_AT(0.05), min_=0)
    b.timeseries("4xx/s by status",
                 [('sum by (status) (rate(troupe_http_requests_total{%s,status=~"4.."}[$__rate_interval]))' % sel,
                   "{{status}}")], unit="reqps",
                 description="400 invalid, 401 no/bad token or credentials, 403 forbidden, 404, 409 conflict, "
                             "413 too large, 415 media type, 429 rate limited, 499 client went away.")
    b.timeseries("rate limited (429/s) by route",
                 [('sum by (route) (rate(troupe_http_requests_total{%s,status="429"}[$__rate_interval]))' % sel,
                   "{{route}}")], unit="reqps", w=8,
                 description="TROUPE_RATE_IP_* / TROUPE_RATE_USER_* / TROUPE_RATE_AUTH_* and login throttling.")
    b.timeseries("logins by outcome", [
        ('sum(rate(troupe_http_requests_total{%s,route="auth_login",status="200"}[$__rate_interval]))' % INST,
         "ok"),
        ('sum(rate(troupe_http_requests_total{%s,route="auth_login",status="401"}[$__rate_interval]))' % INST,
         "wrong credentials"),
        ('sum(rate(troupe_http_requests_total{%s,route="auth_login",status="429"}[$__rate_interval]))' % INST,
         "throttled / locked"),
        ('sum(rate(troupe_http_requests_total{%s,route="auth_login",status=~"5.."}[$__rate_interval]))' % INST,
         "unavailable (5xx)")], unit="reqps", w=8,
        description="From the HTTP status of POST /v1/auth/login.")
    b.timeseries("auth events/s", [("sum by (event) (rate(troupe_auth_events_total{%s}[$__rate_interval]))"
                                    % INST, "{{event}}")], unit="ops", w=12,
                 description="Every audited security event of the auth workers (also in the audit_log table): "
                             "login, login_failed, login_throttled, logout, register, refresh_reuse, role_change.")
    b.stat("refresh token reuse (24h)",
           [('sum(increase(troupe_auth_events_total{%s,event="refresh_reuse"}[24h])) or vector(0)' % INST, "")],
           w=6, h=8, thresholds=RED_AT(1),
           description="A rotated refresh token presented again: the family is revoked. Possible token theft.")
    b.stat("failed logins (1h)",
           [('sum(increase(troupe_auth_events_total{%s,event=~"login_failed|login_throttled"}[1h])) or vector(0)'
             % INST, "")], w=6, h=8, thresholds=[{"color": "green", "value": None}, {"color": "yellow", "value": 50}])
    b.timeseries("auth and readiness 503/s",
                 [('sum by (route) (rate(troupe_http_requests_total{%s,route=~"ready|auth_.+|admin_.+",status="503"}'
                   '[$__rate_interval]))' % INST, "{{route}}")], unit="reqps", w=8,
                 description="503 unavailable from the auth workers = Postgres unreachable "
                             "(alert TroupePostgresUnreachable).")
    b.row("Latency")
    for q, w in (("0.5", 8), ("0.95", 8), ("0.99", 8)):
        b.timeseries("p%s by route" % q[2:].ljust(2, "0"),
                     [("histogram_quantile(%s, sum by (route, le) (rate(troupe_http_request_duration_seconds_bucket"
                       "{%s}[$__rate_interval])))" % (q, sel), "{{route}}")], unit="s", w=w)
    b.heatmap("latency distribution (selected routes)",
              "sum by (le) (increase(troupe_http_request_duration_seconds_bucket{%s}[$__rate_interval]))" % sel)
    b.timeseries("share under 250 ms by route", [
        ('sum by (route) (rate(troupe_http_request_duration_seconds_bucket{%s,le="0.25"}[$__rate_interval])) / '
         'sum by (route) (rate(troupe_http_request_duration_seconds_count{%s}[$__rate_interval]))' % (sel, sel),
         "{{route}}")], unit="percentunit", max_=1,
        thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 0.95}],
        description="The api-latency SLI per route (SLO: 95 % of API requests under 250 ms; login and register "
                    "have their own 1 s SLO).")
    b.table("routes (last 5m)", [
        ("sum by (route) (rate(troupe_http_requests_total{%s}[5m]))" % sel, ""),
        ("route:troupe_http_5xx:ratio_rate5m", ""),
        ('route:troupe_http_request_duration_seconds:quantile_rate5m{quantile="0.95"}', "")], w=24, h=8)
    b.row("ZeroMQ gateway and cluster")
    b.timeseries("ZeroMQ gateway requests/s by operation and status",
                 [("sum by (op, status) (rate(troupe_gateway_requests_total{%s}[5m]))" % INST, "{{op}} {{status}}")],
                 unit="reqps", w=8)
    b.timeseries("ZeroMQ gateway requests waiting", [("sum(troupe_gateway_inflight{%s})" % INST, "in flight")], w=8)
    b.timeseries("cluster peers up, messages between nodes", [
        ("troupe_cluster_peer_up{%s}" % INST, "up {{peer}}"),
        ("sum by (direction) (rate(troupe_cluster_messages_total{%s}[5m]))" % INST, "msgs/s {{direction}}"),
        ("rate(troupe_cluster_refused_total{%s}[5m])" % INST, "refused/s")], w=8)
    return b


def store():
    b = Board("troupe-store", "troupe / document store",
              "Uploads, deletes and searches of the document store, its commits and errors.", ["store"])
    b.row("Size")
    b.stat("documents", [("sum(troupe_store_documents{%s})" % INST, "")], w=8)
    b.stat("chunks", [("sum(troupe_store_chunks{%s})" % INST, "")], w=8)
    b.stat("store file in use", [("sum(troupe_store_size_bytes{%s})" % INST, "")], unit="bytes", w=8)
    b.row("Operations")
    b.timeseries("store operations/s by kind",
                 [("sum by (op) (rate(troupe_store_ops_total{%s}[5m]))" % INST, "{{op}}")], unit="ops", w=12)
    b.timeseries("store errors/s", [("sum(rate(troupe_store_errors_total{%s}[5m]))" % INST, "errors")],
                 unit="ops", w=12)
    b.row("Ingest and search")
    b.timeseries("upload latency (HTTP, incl. chunking, embedding, durable commit)", [
        ('histogram_quantile(0.5, sum by (le) (rate(troupe_http_request_duration_seconds_bucket{%s,route="documents_create"}[5m])))' % INST, "p50"),
        ('histogram_quantile(0.95, sum by (le) (rate(troupe_http_request_duration_seconds_bucket{%s,route="documents_create"}[5m])))' % INST, "p95")],
        unit="s", w=6)
    b.timeseries("ingest latency (in the store: arrival to durable commit)", [
        ("histogram_quantile(0.5, sum by (le) (rate(troupe_store_ingest_seconds_bucket{%s}[5m])))" % INST, "p50"),
        ("histogram_quantile(0.95, sum by (le) (rate(troupe_store_ingest_seconds_bucket{%s}[5m])))" % INST, "p95")],
        unit="s", w=6)
    b.timeseries("search latency (in the store)", [
        ("histogram_quantile(0.5, sum by (le) (rate(troupe_store_search_seconds_bucket{%s}[5m])))" % INST, "p50"),
        ("histogram_quantile(0.95, sum by (le) (rate(troupe_store_search_seconds_bucket{%s}[5m])))" % INST, "p95")],
        unit="s", w=6)
    b.timeseries("operations per commit (group commit)", [
        ("histogram_quantile(0.5, sum by (le) (rate(troupe_store_commit_batch_bucket{%s}[5m])))" % INST, "p50"),
        ("histogram_quantile(0.95, sum by (le) (rate(troupe_store_commit_batch_bucket{%s}[5m])))" % INST, "p95")],
        w=6)
    b.timeseries("store HTTP routes: requests/s by status",
                 [('sum by (route, status) (rate(troupe_http_requests_total{%s,route=~"documents.*|search.*"}[5m]))'
                   % INST, "{{route}} {{status}}")], unit="reqps", w=12)
    b.row("Store actors")
    b.timeseries("store mailbox depth",
                 [('troupe_actor_mailbox_depth{%s,actor=~"store.*"}' % INST, "{{actor}}")], w=12)
    b.timeseries("store busy", [('actor:troupe_actor_busy:ratio_rate5m{actor=~"store.*"}', "{{actor}}")],
                 unit="percentunit", w=12)
    return b


def llm():
    b = Board("troupe-llm", "troupe / LLM gateway",
              "The LLM gateway: circuit breaker, calls, latency, tokens, queue, and the agents' degraded mode.",
              ["llm"])
    b.row("Breaker")
    b.stat("breaker now", [("max(troupe_llm_breaker_state{%s})" % INST, "")], w=4, mappings=BREAKER_MAP,
           thresholds=[{"color": "green", "value": None}, {"color": "yellow", "value": 1},
                       {"color": "red", "value": 2}], color_mode="background")
    b.stat("agents degraded", [("count(troupe_agent_up{%s} == 0.5) or vector(0)" % INST, "")], w=4,
           thresholds=[{"color": "green", "value": None}, {"color": "yellow", "value": 1}],
           description="Agents answering without the LLM (rules, extractive, static checks), or busy.")
    b.stat("call error ratio (5m)", [("troupe:llm_calls_error:ratio_rate5m", "")], unit="percentunit", w=4,
           thresholds=[{"color": "green", "value": None}, {"color": "yellow", "value": 0.05},
                       {"color": "red", "value": 0.5}])
    b.stat("queue depth", [("sum(troupe_llm_queue_depth{%s})" % INST, "")], w=4, thresholds=RED_AT(32))
    b.stat("p95 call latency", [('troupe:llm_call_duration_seconds:quantile_rate5m{quantile="0.95"}', "")],
           unit="s", w=4)
    b.stat("tokens/s", [("sum(direction:troupe_llm_tokens:rate5m)", "")], w=4, decimals=1)
    b.state_timeline("breaker state", [("max by (instance) (troupe_llm_breaker_state{%s})" % INST,
                                        "{{instance}}")], BREAKER_MAP, h=5,
                     thresholds=[{"color": "green", "value": None}, {"color": "yellow", "value": 1},
                                 {"color": "red", "value": 2}],
                     description="Opens after TROUPE_LLM_BREAKER_FAILURES failures in a row, half-opens after "
                                 "TROUPE_LLM_BREAKER_OPEN_MS. Alert TroupeLLMBreakerOpen.")
    b.row("Calls")
    b.timeseries("calls/s by outcome", [("outcome:troupe_llm_calls:rate5m", "{{outcome}}"),
                                        ("troupe:llm_rejected:rate5m", "rejected (breaker open / queue full)")],
                 unit="ops", stack=False)
    b.timeseries("call latency (incl. retries)", [
        ('troupe:llm_call_duration_seconds:quantile_rate5m{quantile="0.5"}', "p50"),
        ('troupe:llm_call_duration_seconds:quantile_rate5m{quantile="0.95"}', "p95"),
        ('troupe:llm_call_duration_seconds:quantile_rate5m{quantile="0.99"}', "p99")], unit="s")
    b.timeseries("tokens/s", [("direction:troupe_llm_tokens:rate5m", "{{direction}}")], w=8)
    b.timeseries("queue depth", [("troupe_llm_queue_depth{%s}" % INST, "{{instance}}")], w=8)
    b.timeseries("workers busy", [('actor:troupe_actor_busy:ratio_rate5m{actor=~"llm.*"}', "{{actor}}")],
                 unit="percentunit", w=8, min_=0)
    b.heatmap("call latency distribution",
              "sum by (le) (increase(troupe_llm_call_duration_seconds_bucket{%s}[$__rate_interval]))" % INST, w=12)
    b.timeseries("LLM actor restarts (per 15m)", [('actor:troupe_actor_restarts:increase15m{actor=~"llm.*"}',
                                                   "{{actor}}")], w=12)
    b.row("Logs")
    b.logs("LLM logs: breaker transitions, model swaps (Loki)",
           '{job="troupe", actor=~"llm.*"} | json', h=8)
    return b


def slo():
    b = Board("troupe-slo", "troupe / SLOs and error budgets",
              "SLIs, 30-day error budgets and burn rates of the objectives in docs/slo.md "
              "(api-availability 99.5 %, api-latency 95 % < 250 ms, auth-latency 95 % < 1 s, task-success 95 %).",
              ["slo"])
    b.var("slo", "SLO", "label_values(troupe:slo_objective:ratio, slo)")
    s = 'slo=~"$slo"'
    b.text("how to read", "**SLI** = good events / eligible events. **Burn rate** = error ratio / (1 - objective): "
           "1 spends the 30-day budget in exactly 30 days. Alerts page at **14.4** over 1 h *and* 5 m and at **6** "
           "over 6 h *and* 30 m (TroupeAvailabilitySLOBurn, TroupeLatencySLOBurn, TroupeTaskSLOBurn). "
           "Policy and runbooks: `docs/slo.md`, `docs/runbooks/`. troupe's own view: `GET /v1/admin/slo`.", h=3)
    b.row("Budgets (30 days)")
    b.bargauge("objective", [("troupe:slo_objective:ratio{%s}" % s, "{{slo}}")], unit="percentunit", w=6,
               min_=0.9, max_=1)
    b.bargauge("SLI over 30 days", [("1 - troupe:slo_errors:ratio_rate30d{%s}" % s, "{{slo}}")],
               unit="percentunit", w=9, min_=0.9, max_=1, thresholds=PCT_OK)
    b.bargauge("error budget remaining", [("troupe:slo_error_budget_remaining:ratio{%s}" % s, "{{slo}}")],
               unit="percentunit", w=9, min_=-1, max_=1,
               thresholds=[{"color": "red", "value": None}, {"color": "yellow", "value": 0},
                           {"color": "green", "value": 0.25}])
    b.row("Burn rates")
    b.timeseries("fast burn: 1h and 5m", [("troupe:slo_burn_rate:1h{%s}" % s, "{{slo}} 1h"),
                                          ("troupe:slo_burn_rate:5m{%s}" % s, "{{slo}} 5m")],
                 thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 14.4}], min_=0)
    b.timeseries("slow burn: 6h and 30m", [("troupe:slo_burn_rate:6h{%s}" % s, "{{slo}} 6h"),
                                           ("troupe:slo_burn_rate:30m{%s}" % s, "{{slo}} 30m")],
                 thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 6}], min_=0)
    b.row("SLIs")
    b.timeseries("SLI (1h window) against objective", [
        ("1 - troupe:slo_errors:ratio_rate1h{%s}" % s, "{{slo}}"),
        ("troupe:slo_objective:ratio{%s}" % s, "{{slo}} objective")], unit="percentunit", max_=1)
    b.timeseries("bad events/s and eligible events/s", [
        ("troupe:slo_bad_events:rate5m{%s}" % s, "{{slo}} bad"),
        ("troupe:slo_events:rate5m{%s}" % s, "{{slo}} all")], unit="ops")
    b.row("The plan's targets")
    b.stat("uptime (dashboard range)", [('avg_over_time(up{job="troupe"}[$__range])', "{{instance}}")],
           unit="percentunit", w=6, decimals=3, thresholds=[{"color": "red", "value": None},
                                                            {"color": "green", "value": 0.99}],
           description="Share of successful scrapes over the selected range (plan: 99 %).")
    b.stat("API error rate (1h)", [('troupe:slo_errors:ratio_rate1h{slo="api-availability"}', "")],
           unit="percentunit", w=6, decimals=2,
           thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 0.05}],
           description="Plan: under 5 %. Objective: under 0.5 %.")
    b.stat("API p95 (5m)", [('troupe:http_request_duration_seconds:quantile_rate5m{quantile="0.95"}', "")],
           unit="s", w=6, thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 2}],
           description="Plan: under 2 s.")
    b.stat("task success (1h)", [('1 - troupe:slo_errors:ratio_rate1h{slo="task-success"}', "")],
           unit="percentunit", w=6, decimals=1,
           thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 0.95}])
    b.table("SLO alerts firing", [('ALERTS{alertname=~"Troupe.*(SLOBurn|5xxRatio)", alertstate="firing"}', "")],
            w=24, h=5)
    return b


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for make in (overview, agents, http, store, llm, slo):
        print(make().write())
