#!/usr/bin/python3
"""Bytes sent to agents per membership change, today (whole ClusterTopology per watch event) vs
slices (docs/membership-channel.md). Builds realistic JSON objects and measures their encoded
size, as the API server would send them in a watch event line ({"type":...,"object":...}).

Run: /usr/bin/python3 bench/membership_channel_bytes.py
"""
import json

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


if __name__ == "__main__":
    main()
