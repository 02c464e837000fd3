#!/usr/bin/python3
"""zmq_client.py - a small Python client for troupe's ZeroMQ gateway, and a demo.

The gateway is a ROUTER socket (zmq_addr, default tcp://127.0.0.1:5555).
This client connects a DEALER and sends one MessagePack map per request,
    {"op": "search", "id": 7, "token": "<access JWT>", "args": {"query": "pumps"}}
and reads one map per answer, matched by id (answers may come in any order):
    {"id": 7, "ok": True,  "status": 200, "result": {...}}
    {"id": 7, "ok": False, "status": 401, "error": {"code", "message", "retry_after"?}}
The operations and their arguments are those of the HTTP API
(docs/protocol.md, "ZeroMQ clients").

Needs Debian's python3-zmq and python3-msgpack (apt-get install python3-zmq
python3-msgpack), hence /usr/bin/python3.

As a library:

    from zmq_client import Troupe, TroupeError
    t = Troupe(timeout=10).connect("tcp://127.0.0.1:5555")     # server_key="..." for CURVE
    t.login("ada@example.com", "correct horse battery")
    print(t.call("search", {"query": "how are pumps serviced", "k": 5}))
    a, b = t.call_many([("documents.list", {"limit": 5}), ("tasks.list", None)])  # pipelined

As a demo (exits non-zero on any failure):

    examples/zmq_client.py demo tcp://127.0.0.1:5555 [--server-key KEY] [--timeout S]

KEY is the gateway's CURVE public key (`troupe zmq-keys` prints it); the
environment variable TROUPE_ZMQ_SERVER_KEY works too.
"""
import argparse
import os
import sys
import time
import uuid

import msgpack
import zmq


class TroupeError(Exception):
    """An answer with ok=false: the HTTP-like status, the error code and message."""

    def __init__(self, op, status, code, message, retry_after=None):
        super().__init__("%s: %s %s: %s" % (op, status, code, message))
        self.op, self.status, self.code, self.message = op, status, code, message
        self.retry_after = retry_after


class TroupeTimeout(TroupeError):
    """No answer in time (server down, wrong CURVE key, or overloaded)."""

    def __init__(self, op, seconds):
        super().__init__(op, None, "timeout", "no answer within %g s" % seconds)
        self.args = ("%s: no answer within %g s (is the gateway up? the right CURVE key?)" % (op, seconds),)


class Troupe:
    def __init__(self, timeout=10.0):
        self.timeout = timeout  # seconds to wait for each answer
        self.token = None  # access token, kept by login()
        self.refresh_token = None
        self._sock = None
        self._next_id = 1
        self._early = {}  # answers that came before they were asked for, by id
        self._ops = {}  # op of each request in flight, by id (for error messages)

    # -- connection --------------------------------------------------------
    def connect(self, endpoint, server_key=None):
        """Connects to the gateway; server_key (Z85, 40 chars) turns on CURVE."""
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.linger = 0
        sock.sndtimeo = int(self.timeout * 1000)  # a send never blocks for ever
        if server_key:
            public, secret = zmq.curve_keypair()  # a throwaway client key pair
            sock.curve_serverkey = server_key.encode() if isinstance(server_key, str) else server_key
            sock.curve_publickey = public
            sock.curve_secretkey = secret
        sock.connect(endpoint)
        self._sock = sock
        return self

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- requests ----------------------------------------------------------
    def send(self, op, args=None, token=None):
        """Sends one request without waiting; returns its id (see wait)."""
        rid = self._next_id
        self._next_id += 1
        req = {"id": rid, "op": op}  # id first: even a refused request is answered with it
        token = token or self.token
        if token:
            req["token"] = token
        if args:
            req["args"] = args
        try:
            self._sock.send(msgpack.packb(req, use_bin_type=True))
        except zmq.Again:
            raise TroupeTimeout(op, self.timeout) from None
        self._ops[rid] = op
        return rid

    def wait(self, rid):
        """Waits for the answer to request rid; returns its result or raises."""
        op = self._ops.pop(rid, "?")
        deadline = time.monotonic() + self.timeout
        while rid not in self._early:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sock.poll(int(left * 1000) + 1):
                raise TroupeTimeout(op, self.timeout)
            answer = msgpack.unpackb(self._sock.recv(), raw=False)
            if "id" not in answer:  # only for a frame the gateway could not read
                err = answer.get("error", {})
                raise TroupeError(op, answer.get("status"), err.get("code"), err.get("message"))
            self._early[answer["id"]] = answer
        answer = self._early.pop(rid)
        if not answer.get("ok"):
            err = answer.get("error", {})
            raise TroupeError(op, answer.get("status"), err.get("code"), err.get("message"),
                              err.get("retry_after"))
        return answer.get("result")

    def call(self, op, args=None):
        """One request, its result (a dict); TroupeError on ok=false or no answer."""
        return self.wait(self.send(op, args))

    def call_many(self, calls):
        """Pipelining: sends every (op, args) first, then collects the results in order."""
        ids = [self.send(op, args) for op, args in calls]
        return [self.wait(rid) for rid in ids]

    # -- accounts ----------------------------------------------------------
    def register(self, email, password, name=None):
        args = {"email": email, "password": password}
        if name:
            args["name"] = name
        return self.call("auth.register", args)["user"]

    def login(self, email, password):
        res = self.call("auth.login", {"email": email, "password": password})
        self.token, self.refresh_token = res["access_token"], res["refresh_token"]
        return res

    def refresh(self):
        res = self.call("auth.refresh", {"refresh_token": self.refresh_token})
        self.token, self.refresh_token = res["access_token"], res["refresh_token"]
        return res

    def logout(self):
        self.call("auth.logout", {"refresh_token": self.refresh_token})
        self.token = self.refresh_token = None


# -- the demo ----------------------------------------------------------------

class DemoFailed(Exception):
    """A demo step got an answer, but not the expected one."""


NOTES = b"""# Plant maintenance

The pumps are serviced every month by the day shift.
The cooling loop is checked every morning before the first batch.
Filters are replaced when the pressure drop exceeds 0.4 bar.
"""


def step(what, detail=""):
    print("ok  %-16s %s" % (what, detail), flush=True)


def demo(endpoint, server_key, timeout):
    t = Troupe(timeout=timeout).connect(endpoint, server_key)
    try:
        step("health", t.call("health")["status"])
        email = "demo-%s@example.com" % uuid.uuid4().hex[:12]
        user = t.register(email, "correct horse battery staple", "Demo")
        step("auth.register", "%s (%s)" % (user["email"], user["id"]))
        t.login(email, "correct horse battery staple")
        step("auth.login", "access token of %d bytes" % len(t.token))
        step("auth.me", t.call("auth.me")["user"]["email"])

        doc = t.call("documents.put", {"content": NOTES, "content_type": "text/markdown",
                                       "title": "maintenance notes", "metadata": {"source": "demo"}})
        step("documents.put", "%s: %d chunk(s), %d bytes" % (doc["id"], doc["chunks"], doc["bytes"]))

        # three requests in flight at once, answers matched by id
        meta, content, listing = t.call_many([("documents.get", {"id": doc["id"]}),
                                              ("documents.content", {"id": doc["id"]}),
                                              ("documents.list", {"limit": 10})])
        if content["content"] != NOTES or listing["total"] != 1:
            raise DemoFailed("the stored document does not read back as sent")
        step("pipelined", "get %r, content %d bytes, list total %d" %
             (meta["title"], len(content["content"]), listing["total"]))

        found = t.call("search", {"query": "how often are the pumps serviced", "k": 3})
        hits = [r for r in found["results"] if r["document_id"] == doc["id"]]
        if not hits:
            raise DemoFailed("search did not find the document: %r" % found)
        step("search", "%s: %d result(s), best %.3f: %r" %
             (found["mode"], len(found["results"]), hits[0]["score"], hits[0]["snippet"][:50]))

        task = t.call("tasks.create", {"agent": "summarizer", "input": NOTES.decode()})
        step("tasks.create", "%s %s" % (task["id"], task["state"]))
        deadline = time.monotonic() + 60
        while True:
            task = t.call("tasks.get", {"id": task["id"]})["task"]
            if task["state"] not in ("queued", "running"):
                break
            if time.monotonic() > deadline:
                raise DemoFailed("the task did not finish within 60 s (state %s)" % task["state"])
            time.sleep(0.1)
        if task["state"] != "succeeded":
            raise DemoFailed("the task ended %s: %r" % (task["state"], task.get("error")))
        result = task["result"]
        step("tasks.get", "%s, mode %s: %r" % (task["state"], result.get("mode"),
                                                 str(result.get("output", ""))[:60]))
        events = t.call("tasks.events", {"id": task["id"]})
        if not events["done"] or not events["events"]:
            raise DemoFailed("tasks.events: no complete event log: %r" % events)
        step("tasks.events", "%d events: %s" % (len(events["events"]),
                                               " ".join(e["kind"] for e in events["events"])))

        t.call("documents.delete", {"id": doc["id"]})
        step("documents.delete", doc["id"])
        t.logout()
        step("auth.logout", "")
    finally:
        t.close()


def main(argv):
    p = argparse.ArgumentParser(description="troupe ZeroMQ client demo")
    p.add_argument("command", choices=["demo"])
    p.add_argument("endpoint", nargs="?", default="tcp://127.0.0.1:5555")
    p.add_argument("--server-key", default=os.environ.get("TROUPE_ZMQ_SERVER_KEY"),
                   help="the gateway's CURVE public key (Z85)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each answer")
    a = p.parse_args(argv)
    try:
        demo(a.endpoint, a.server_key, a.timeout)
    except (TroupeError, DemoFailed) as e:
        print("FAIL %s" % e, file=sys.stderr)
        return 1
    print("demo: all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
