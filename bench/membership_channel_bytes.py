#!/usr/bin/python3
"""Bytes sent to agents per membership change, today (whole ClusterTopology per watch event) vs
slices (docs/membership-channel.md). Builds realistic JSON objects and measures their encoded
size, as the API server would send them in a watch event line ({"type":...,"object":...}).

Run: /usr/bin/python3 bench/membership_channel_bytes.py            (model: computed objects)
     /usr/bin/python3 bench/membership_channel_bytes.py --measure BUILD/controller/libcluster-controller
                                                      [--sizes 100,1000,5000]
The second form measures the real thing: it starts the test API server (tests/support/apiserver,
plain HTTP on loopback) and libcluster-controller, creates N Ready pods selected by one
ClusterTopology (readiness ReadyOnly), opens the watch an agent opens today (the ClusterTopology,
by name) and the one it opens now (its member slices, by label), turns one pod unready and back
(one leave, one join) and counts the bytes each watch stream carried per change. Every agent opens
the same watch, so all agents receive N times that. "Today" is the topology event as the server
sent it with status.members refilled to what the old controller listed (all members, up to 2 000,
with source and connected), which is what agents received before member slices.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

SLICE_SIZE = 100
STATUS_LIST_LIMIT_TODAY = 2000
STATUS_LIST_LIMIT_NEW = 100


def member(i, full=True):
    ip = "10.%d.%d.%d" % (40 + i // 65536, (i // 256) % 256, i % 256)
    m = {"node": "app@" + ip, "pod": "app-7d9f8c6b5-%05d" % i, "ips": [ip]}
    if full:
        m.update({"source": "kubernetes", "ready": True, "connected": True})
    else:
        m["ready"] = True
    return m


def metadata(name, rv, extra=None):
    md = {"name": name, "namespace": "prod", "uid": "6f1c2b9e-3d4a-4b8e-9a7f-1c2d3e4f5a6b",
          "resourceVersion": str(rv), "generation": 3,
          "creationTimestamp": "2026-11-30T10:00:00Z",
          # What the API server sends: one manager for spec (kubectl), one for status.
          "managedFields": [
              {"manager": "kubectl-client-side-apply", "operation": "Update",
               "apiVersion": "libcluster.dev/v1alpha1", "time": "2026-11-30T10:00:00Z",
               "fieldsType": "FieldsV1",
               "fieldsV1": {"f:spec": {".": {}, "f:nodeBasename": {}, "f:sources": {}}}},
              {"manager": "libcluster-controller", "operation": "Update",
               "apiVersion": "libcluster.dev/v1alpha1", "time": "2026-11-30T10:05:00Z",
               "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {".": {}}},
               "subresource": "status"}]}
    if extra:
        md.update(extra)
    return md


SPEC = {"nodeBasename": "app", "sources": [{"name": "kubernetes", "kubernetes": {
    "selector": {"matchLabels": {"app": "app"}}, "mode": "ip"}}],
    "connect": {"module": "net_kernel", "function": "connect_node", "args": []},
    "disconnect": {"module": "erlang", "function": "disconnect_node", "args": []},
    "listNodes": {"module": "erlang", "function": "nodes", "args": ["connected"]},
    "pollIntervalSeconds": 5, "formation": "SeedFirst"}

CONDITIONS = [{"type": t, "status": "True", "reason": r, "message": "",
               "observedGeneration": 3, "lastTransitionTime": "2026-11-30T10:05:00Z"}
              for t, r in (("Ready", "MembersResolved"), ("Converged", "AllConnected"),
                           ("Degraded", "AllSourcesAnswered"), ("Invalid", "InvalidSpec"))]


def topology(n, listed):
    status = {"observedGeneration": 3, "memberCount": n, "readyCount": n, "connectedCount": n,
              "seed": member(0)["node"], "sourceSummary": "kubernetes",
              "members": [member(i) for i in range(min(n, listed))], "conditions": CONDITIONS}
    if n > listed:
        status["membersTruncated"] = True
    return {"apiVersion": "libcluster.dev/v1alpha1", "kind": "ClusterTopology",
            "metadata": metadata("app", 1000), "spec": SPEC, "status": status}


def member_slice(first, count):
    return {"apiVersion": "libcluster.dev/v1alpha1", "kind": "ClusterTopologyMemberSlice",
            "metadata": metadata("app-%05d" % first, 1001, {
                "labels": {"libcluster.dev/topology": "app"},
                "ownerReferences": [{"apiVersion": "libcluster.dev/v1alpha1",
                                     "kind": "ClusterTopology", "name": "app",
                                     "uid": "6f1c2b9e-3d4a-4b8e-9a7f-1c2d3e4f5a6b",
                                     "controller": True}]}),
            "topologyGeneration": 3,
            "members": [member(first + i, full=False) for i in range(count)]}


def event_bytes(obj):
    return len(json.dumps({"type": "MODIFIED", "object": obj}, separators=(",", ":"))) + 1


def main():
    print("| N | today: per agent | today: all agents | slices: per agent | slices: all agents |"
          " ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n in (100, 1000, 5000):
        today_one = event_bytes(topology(n, STATUS_LIST_LIMIT_TODAY))
        # New: a join/leave changes one slice; agents watch slices only (not the topology,
        # whose status summary changes too: they re-read it only when topologyGeneration moves).
        new_one = event_bytes(member_slice(0, min(n, SLICE_SIZE)))
        print("| %d | %.1f KB | %.2f MB | %.1f KB | %.2f MB | %.1f× |" % (
            n, today_one / 1e3, today_one * n / 1e6, new_one / 1e3, new_one * n / 1e6,
            today_one / new_one))
    print()
    print("status object for kubectl (members listed up to %d): %.1f KB at N=5000" % (
        STATUS_LIST_LIMIT_NEW, event_bytes(topology(5000, STATUS_LIST_LIMIT_NEW)) / 1e3))


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Watch(threading.Thread):
    """One raw watch stream: counts the bytes of its events (bookmarks excluded)."""

    def __init__(self, base, path):
        super().__init__(daemon=True)
        self.url = base + path
        self.lock = threading.Lock()
        self.bytes = 0
        self.events = []
        self.response = None

    def run(self):
        self.response = urllib.request.urlopen(self.url, timeout=600)
        for line in self.response:
            event = json.loads(line)
            if event.get("type") == "BOOKMARK":
                continue
            with self.lock:
                self.bytes += len(line)
                self.events.append(event)

    def take(self):
        with self.lock:
            taken, events = self.bytes, self.events
            self.bytes, self.events = 0, []
            return taken, events


def request(base, method, path, body=None, content_type="application/json"):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=60) as answer:
        return json.loads(answer.read() or b"null")


def wait_for(what, condition, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise SystemExit("timed out waiting for " + what)


def pod_ip(i):
    return "10.%d.%d.%d" % (40 + i // 62500, (i // 250) % 250, i % 250 + 1)


def set_ready(base, i, ready):
    status = {"phase": "Running", "podIP": pod_ip(i), "podIPs": [{"ip": pod_ip(i)}],
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    request(base, "PATCH", "/api/v1/namespaces/default/pods/web-%d/status" % i,
            {"status": status}, "application/merge-patch+json")


def topology_status(base):
    return request(base, "GET", TOPOLOGY_PATH).get("status", {})


TOPOLOGY_PATH = "/apis/libcluster.dev/v1alpha1/namespaces/default/clustertopologies/web"
SLICES_PATH = "/apis/libcluster.dev/v1alpha1/namespaces/default/clustertopologymemberslices"


def quiet(watches, seconds=1.0):
    """Waits until no watch has received anything for `seconds`."""
    last = None
    stable_since = time.monotonic()
    while time.monotonic() - stable_since < seconds:
        now = tuple(w.bytes for w in watches)
        if now != last:
            last, stable_since = now, time.monotonic()
        time.sleep(0.05)


def today_event_bytes(event, members):
    """The topology event refilled with the status members the old controller listed."""
    obj = json.loads(json.dumps(event["object"]))
    listed = members[:STATUS_LIST_LIMIT_TODAY]
    obj["status"]["members"] = [
        dict(m, source="kubernetes", connected=True) for m in listed]
    obj["status"]["membersTruncated"] = len(members) > STATUS_LIST_LIMIT_TODAY
    obj["status"].pop("memberSliceCount", None)
    return len(json.dumps({"type": event["type"], "object": obj}, separators=(",", ":"))) + 1


def measure(controller, sizes):
    work = tempfile.mkdtemp(prefix="membership-bytes-")
    server = subprocess.Popen(
        [sys.executable, "-B", os.path.join(REPO, "tests/support/apiserver/apiserver.py"),
         "--dir", work, "--http", "--history", "100000", "--bookmark-interval", "3600",
         "--exit-with-parent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    controller_process = None
    try:
        wait_for("the test API server", lambda: os.path.exists(os.path.join(work, "ready")), 30)
        with open(os.path.join(work, "ready")) as ready:
            base = json.load(ready)["url"]
        kubeconfig = os.path.join(work, "kubeconfig")
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "apply", "-f",
                        os.path.join(REPO, "crds")], check=True, stdout=subprocess.DEVNULL)
        request(base, "POST", "/apis/libcluster.dev/v1alpha1/namespaces/default/clustertopologies",
                {"apiVersion": "libcluster.dev/v1alpha1", "kind": "ClusterTopology",
                 "metadata": {"name": "web", "namespace": "default"},
                 "spec": {"nodeBasename": "app", "sources": [{"kubernetes": {
                     "selector": {"matchLabels": {"app": "web"}}, "readiness": "ReadyOnly"}}]}})
        controller_process = subprocess.Popen(
            [controller, "--kubeconfig", kubeconfig, "--metrics-bind-address", "127.0.0.1:0",
             "--health-probe-bind-address", "127.0.0.1:0", "--no-endpointslices",
             "--log-level", "warn"], stdout=subprocess.DEVNULL)
        rows = []
        created = 0
        for n in sizes:
            while created < n:
                request(base, "POST", "/api/v1/namespaces/default/pods", {
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "web-%d" % created, "labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "erlang"}]}})
                set_ready(base, created, True)
                created += 1
            wait_for("%d members" % n, lambda: topology_status(base).get("memberCount") == n)
            rv = request(base, "GET", SLICES_PATH)["metadata"]["resourceVersion"]
            topo_watch = Watch(base, "/apis/libcluster.dev/v1alpha1/namespaces/default/"
                               "clustertopologies?watch=true&resourceVersion=%s&fieldSelector=%s"
                               % (rv, urllib.parse.quote("metadata.name=web")))
            slice_watch = Watch(base, SLICES_PATH + "?watch=true&resourceVersion=%s&labelSelector=%s"
                                % (rv, urllib.parse.quote("libcluster.dev/topology=web")))
            topo_watch.start()
            slice_watch.start()
            quiet([topo_watch, slice_watch])
            topo_watch.take()
            slice_watch.take()
            all_members = sorted(
                (m for s in request(base, "GET", SLICES_PATH)["items"] for m in s["members"]),
                key=lambda m: m["node"])
            results = []
            for ready, expected in ((False, n - 1), (True, n)):
                set_ready(base, 17, ready)
                wait_for("memberCount %d" % expected,
                         lambda: topology_status(base).get("memberCount") == expected)
                quiet([topo_watch, slice_watch])
                topo_bytes, topo_events = topo_watch.take()
                slice_bytes, slice_events = slice_watch.take()
                members = [m for m in all_members if ready or m["node"] != "app@" + pod_ip(17)]
                today = sum(today_event_bytes(e, members) for e in topo_events)
                results.append((today, topo_bytes, len(topo_events), slice_bytes, len(slice_events)))
            today = sum(r[0] for r in results) / 2
            topo = sum(r[1] for r in results) / 2
            slices = sum(r[3] for r in results) / 2
            rows.append((n, today, topo, slices, [r[2] for r in results], [r[4] for r in results]))
            print("N=%d: today %.0f B/agent (%s topology events), status watch now %.0f B, "
                  "slices %.0f B/agent (%s slice events)" % (
                      n, today, [r[2] for r in results], topo, slices, [r[4] for r in results]),
                  file=sys.stderr)
        print("| N | today: per agent | today: all agents | slices: per agent | slices: all agents "
              "| ratio | a `ctop` watcher now |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for n, today, topo, slices, _, _ in rows:
            print("| %d | %.1f KB | %.2f MB | %.1f KB | %.2f MB | %.1f× | %.1f KB |" % (
                n, today / 1e3, today * n / 1e6, slices / 1e3, slices * n / 1e6, today / slices,
                topo / 1e3))
    finally:
        if controller_process is not None:
            controller_process.send_signal(signal.SIGTERM)
            controller_process.wait(timeout=30)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--measure":
        sizes = [100, 1000, 5000]
        if len(sys.argv) >= 5 and sys.argv[3] == "--sizes":
            sizes = [int(x) for x in sys.argv[4].split(",")]
        measure(sys.argv[2], sizes)
    else:
        main()
