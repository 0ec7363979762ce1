"""Protocol tests for the test API server: what our C++ client and informer rely on, asserted
on the wire (exact Status bodies, watch streams, pagination, fault injection).

Run: /usr/bin/python3 -m unittest tests/support/apiserver/apiserver_test.py
"""

import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apiserver.py")
TOKEN = "test-token"


class Server:
    """Starts apiserver.py in a temporary directory and stops it by PID."""

    def __init__(self, *extra):
        self.dir = tempfile.mkdtemp(prefix="apiserver-test-")
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen([sys.executable, "-B", SERVER, "--dir", self.dir] + list(extra),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        ready = os.path.join(self.dir, "ready")
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("server did not start: " + open(self.log.name).read())
            time.sleep(0.02)
        with open(ready) as f:
            info = json.load(f)
        self.url = info["url"]
        self.admin_url = info["adminUrl"]
        u = urllib.parse.urlsplit(self.url)
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def conn(self, timeout=10):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                           timeout=timeout)

    def request(self, method, path, body=None, ctype="application/json", headers=None,
                token=TOKEN):
        c = self.conn()
        h = {"Content-Type": ctype}
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        c.request(method, path, data, h)
        r = c.getresponse()
        raw = r.read()
        c.close()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        return r.status, r, parsed

    def watch(self, path, timeout=10):
        """Opens a watch; returns (connection, response). Read events with next_event()."""
        c = self.conn(timeout)
        c.request("GET", path, headers={"Authorization": "Bearer " + TOKEN})
        return c, c.getresponse()

    def admin(self, method, path, body=None):
        req = urllib.request.Request(self.admin_url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())


def next_event(resp):
    line = resp.readline()
    if not line:
        return None
    return json.loads(line)


def pod(name, labels=None, phase=None, node=None, ns="default"):
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
         "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]}}
    if node:
        p["spec"]["nodeName"] = node
    return p


PODS = "/api/v1/namespaces/default/pods"

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.test.libcluster.dev"},
    "spec": {"group": "test.libcluster.dev", "scope": "Namespaced",
             "names": {"plural": "gadgets", "kind": "Gadget", "shortNames": ["gdg"],
                       "categories": ["libcluster-test"]},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {
                               "type": "object",
                               "properties": {
                                   "spec": {"type": "object", "required": ["size"],
                                            "x-kubernetes-validations": [{
                                                "rule": "self.size <= self.limit",
                                                "message": "size must not exceed limit"}],
                                            "properties": {
                                                "size": {"type": "integer", "minimum": 1},
                                                "limit": {"type": "integer", "default": 10},
                                                "mode": {"type": "string",
                                                         "enum": ["a", "b"]},
                                                "free": {"type": "object",
                                                         "x-kubernetes-preserve-unknown-fields":
                                                             True}}},
                                   "status": {"type": "object",
                                              "properties": {"phase": {"type": "string"}}}}}}}]}}
GADGETS = "/apis/test.libcluster.dev/v1/namespaces/default/gadgets"


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server("--history", "50")

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()

    def create(self, obj, path=PODS):
        code, _, body = self.s.request("POST", path, obj)
        self.assertEqual(code, 201, body)
        return body

    def delete_all_pods(self):
        self.s.request("DELETE", PODS)
        self.s.request("DELETE", "/api/v1/namespaces/default/configmaps")

    def setUp(self):
        self.delete_all_pods()

    # ---- errors --------------------------------------------------------------------------

    def test_not_found_status_is_byte_identical_to_the_real_server(self):
        code, r, body = self.s.request("GET", PODS + "/x")

        self.assertEqual(code, 404)
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        self.assertEqual(json.dumps(body, separators=(",", ":")),
                         '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                         '"message":"pods \\"x\\" not found","reason":"NotFound",'
                         '"details":{"name":"x","kind":"pods"},"code":404}')

    def test_group_resources_are_qualified_in_messages(self):
        code, _, body = self.s.request("GET", "/apis/apps/v1/namespaces/default/deployments/d")

        self.assertEqual(code, 404)
        self.assertEqual(body["message"], 'deployments.apps "d" not found')
        self.assertEqual(body["details"], {"name": "d", "group": "apps", "kind": "deployments"})

    def test_create_twice_is_already_exists(self):
        self.create(pod("a"))

        code, _, body = self.s.request("POST", PODS, pod("a"))

        self.assertEqual(code, 409)
        self.assertEqual(body["reason"], "AlreadyExists")
        self.assertEqual(body["message"], 'pods "a" already exists')

    def test_put_with_stale_resource_version_is_conflict(self):
        created = self.create(pod("a"))
        stale = json.loads(json.dumps(created))
        created["metadata"]["labels"] = {"v": "1"}
        code, _, _ = self.s.request("PUT", PODS + "/a", created)
        self.assertEqual(code, 200)

        stale["metadata"]["labels"] = {"v": "2"}
        code, _, body = self.s.request("PUT", PODS + "/a", stale)

        self.assertEqual(code, 409)
        self.assertEqual(body["reason"], "Conflict")
        self.assertEqual(body["message"],
                         'Operation cannot be fulfilled on pods "a": the object has been '
                         'modified; please apply your changes to the latest version and try '
                         'again')

    def test_create_in_missing_namespace_is_not_found(self):
        code, _, body = self.s.request("POST", "/api/v1/namespaces/nope/pods",
                                       pod("a", ns="nope"))

        self.assertEqual(code, 404)
        self.assertEqual(body["message"], 'namespaces "nope" not found')

    def test_unauthenticated_requests_get_401_status(self):
        code, _, body = self.s.request("GET", PODS, token="wrong")

        self.assertEqual(code, 401)
        self.assertEqual(body, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure", "message": "Unauthorized",
                                "reason": "Unauthorized", "code": 401})

    def test_client_certificate_authenticates(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.s.dir, "ca.crt"))
        ctx.load_cert_chain(os.path.join(self.s.dir, "client.crt"),
                            os.path.join(self.s.dir, "client.key"))
        c = http.client.HTTPSConnection(self.s.host, self.s.port, context=ctx, timeout=10)

        c.request("GET", "/api/v1/namespaces/default")
        r = c.getresponse()

        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.read())["metadata"]["name"], "default")

    def test_invalid_pod_is_422_with_causes(self):
        bad = pod("a")
        bad["spec"]["containers"] = []

        code, _, body = self.s.request("POST", PODS, bad)

        self.assertEqual(code, 422)
        self.assertEqual(body["message"], 'Pod "a" is invalid: spec.containers: Required value')
        self.assertEqual(body["details"]["causes"],
                         [{"reason": "FieldValueRequired", "message": "Required value",
                           "field": "spec.containers"}])

    # ---- objects -------------------------------------------------------------------------

    def test_generate_name_and_server_fields(self):
        p = pod("")
        del p["metadata"]["name"]
        p["metadata"]["generateName"] = "app-"

        body = self.create(p)

        self.assertRegex(body["metadata"]["name"], r"^app-[a-z0-9]{5}$")
        self.assertTrue(body["metadata"]["uid"])
        self.assertRegex(body["metadata"]["creationTimestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(body["status"], {"phase": "Pending", "qosClass": "BestEffort"})

    def test_resource_versions_increase_globally(self):
        a = self.create(pod("a"))
        cm = self.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
                         "/api/v1/namespaces/default/configmaps")
        b = self.create(pod("b"))

        rvs = [int(o["metadata"]["resourceVersion"]) for o in (a, cm, b)]
        self.assertEqual(rvs, sorted(rvs))
        self.assertEqual(len(set(rvs)), 3)

    def test_pod_status_subresource_separates_spec_and_status(self):
        created = self.create(pod("a"))
        created["status"] = {"phase": "Running", "podIP": "10.0.0.1"}
        code, _, body = self.s.request("PUT", PODS + "/a", created)
        self.assertEqual(code, 200)
        self.assertEqual(body["status"]["phase"], "Pending", "main resource ignores status")

        code, _, body = self.s.request("PATCH", PODS + "/a/status",
                                       {"status": {"phase": "Running", "podIP": "10.0.0.1"},
                                        "metadata": {"labels": {"ignored": "yes"}}},
                                       ctype="application/merge-patch+json")

        self.assertEqual(code, 200)
        self.assertEqual(body["status"]["phase"], "Running")
        self.assertNotIn("ignored", body["metadata"].get("labels", {}))

    def test_finalizers_delay_deletion_until_removed(self):
        p = pod("a")
        p["metadata"]["finalizers"] = ["test/hold"]
        self.create(p)

        code, _, body = self.s.request("DELETE", PODS + "/a")
        self.assertEqual(code, 200)
        self.assertIn("deletionTimestamp", body["metadata"])
        code, _, _ = self.s.request("GET", PODS + "/a")
        self.assertEqual(code, 200)

        code, _, _ = self.s.request("PATCH", PODS + "/a", {"metadata": {"finalizers": None}},
                                    ctype="application/merge-patch+json")
        self.assertEqual(code, 200)
        code, _, _ = self.s.request("GET", PODS + "/a")
        self.assertEqual(code, 404)

    def test_delete_answers_like_the_real_stores(self):
        self.create(pod("a"))
        self.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
                    "/api/v1/namespaces/default/configmaps")

        _, _, deleted_pod = self.s.request("DELETE", PODS + "/a")
        _, _, deleted_cm = self.s.request("DELETE", "/api/v1/namespaces/default/configmaps/c")

        self.assertEqual(deleted_pod["kind"], "Pod")
        self.assertEqual(deleted_cm["kind"], "Status")
        self.assertEqual(deleted_cm["status"], "Success")
        self.assertEqual(deleted_cm["details"]["name"], "c")

    def test_dry_run_does_not_persist(self):
        code, _, body = self.s.request("POST", PODS + "?dryRun=All", pod("a"))

        self.assertEqual(code, 200)
        self.assertEqual(body["metadata"]["name"], "a")
        self.assertEqual(self.s.request("GET", PODS + "/a")[0], 404)

    # ---- patches -------------------------------------------------------------------------

    def test_merge_patch_null_deletes_and_lists_are_replaced(self):
        p = pod("a", labels={"x": "1", "y": "2"})
        self.create(p)

        _, _, body = self.s.request("PATCH", PODS + "/a",
                                    {"metadata": {"labels": {"x": None, "z": "3"}}},
                                    ctype="application/merge-patch+json")

        self.assertEqual(body["metadata"]["labels"], {"y": "2", "z": "3"})

    def test_json_patch_test_failure_is_422(self):
        self.create(pod("a", labels={"x": "1"}))

        code, _, body = self.s.request("PATCH", PODS + "/a",
                                       [{"op": "test", "path": "/metadata/labels/x",
                                         "value": "2"},
                                        {"op": "replace", "path": "/metadata/labels/x",
                                         "value": "3"}],
                                       ctype="application/json-patch+json")

        self.assertEqual(code, 422, body)
        self.assertEqual(body["reason"], "Invalid")

    def test_strategic_merge_patch_merges_containers_by_name(self):
        p = pod("a")
        p["spec"]["containers"].append({"name": "side", "image": "busybox:1"})
        self.create(p)

        _, _, body = self.s.request("PATCH", PODS + "/a",
                                    {"spec": {"containers": [{"name": "side",
                                                              "image": "busybox:2"}]}},
                                    ctype="application/strategic-merge-patch+json")

        self.assertEqual([(c["name"], c["image"]) for c in body["spec"]["containers"]],
                         [("app", "busybox:1.36"), ("side", "busybox:2")])

    def test_patch_with_stale_resource_version_is_conflict(self):
        created = self.create(pod("a"))
        self.s.request("PATCH", PODS + "/a", {"metadata": {"labels": {"a": "1"}}},
                       ctype="application/merge-patch+json")

        code, _, body = self.s.request("PATCH", PODS + "/a", {"metadata": {
            "resourceVersion": created["metadata"]["resourceVersion"], "labels": {"a": "2"}}},
            ctype="application/merge-patch+json")

        self.assertEqual(code, 409)
        self.assertEqual(body["reason"], "Conflict")

    def test_server_side_apply_requires_field_manager_and_reports_conflicts(self):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
              "data": {"k": "1"}}
        path = "/api/v1/namespaces/default/configmaps/c"
        code, _, _ = self.s.request("PATCH", path, cm, ctype="application/apply-patch+yaml")
        self.assertEqual(code, 400)

        code, _, created = self.s.request("PATCH", path + "?fieldManager=a", cm,
                                          ctype="application/apply-patch+yaml")
        self.assertEqual(code, 201, created)
        cm["data"]["k"] = "2"
        code, _, conflict = self.s.request("PATCH", path + "?fieldManager=b", cm,
                                           ctype="application/apply-patch+yaml")
        code_forced, _, forced = self.s.request("PATCH", path + "?fieldManager=b&force=true",
                                                cm, ctype="application/apply-patch+yaml")

        self.assertEqual(code, 409)
        self.assertEqual(conflict["message"],
                         'Apply failed with 1 conflict: conflict with "a": .data.k')
        self.assertEqual(conflict["details"]["causes"],
                         [{"type": "FieldManagerConflict", "message": 'conflict with "a"',
                           "field": ".data.k"}])
        self.assertEqual(code_forced, 200)
        self.assertEqual(forced["data"], {"k": "2"})
        self.assertEqual([m["manager"] for m in forced["metadata"]["managedFields"]], ["b"])
        self.s.request("DELETE", path)

    def test_server_side_apply_removes_fields_the_manager_stopped_applying(self):
        path = "/api/v1/namespaces/default/configmaps/d"
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"},
              "data": {"a": "1", "b": "2"}}
        self.s.request("PATCH", path + "?fieldManager=m", cm, ctype="application/apply-patch+yaml")
        del cm["data"]["b"]

        _, _, body = self.s.request("PATCH", path + "?fieldManager=m", cm,
                                    ctype="application/apply-patch+yaml")

        self.assertEqual(body["data"], {"a": "1"})
        self.s.request("DELETE", path)

    # ---- list ----------------------------------------------------------------------------

    def names(self, query):
        code, _, body = self.s.request("GET", PODS + "?" + query)
        self.assertEqual(code, 200, body)
        return [i["metadata"]["name"] for i in body["items"]]

    def test_label_selectors(self):
        self.create(pod("a", {"app": "x", "tier": "web"}))
        self.create(pod("b", {"app": "y"}))
        self.create(pod("c", {"app": "z", "tier": "db"}))
        q = lambda s: "labelSelector=" + urllib.parse.quote(s)  # noqa: E731

        self.assertEqual(self.names(q("app=x")), ["a"])
        self.assertEqual(self.names(q("app==y")), ["b"])
        self.assertEqual(self.names(q("app!=x")), ["b", "c"])
        self.assertEqual(self.names(q("app in (x, z)")), ["a", "c"])
        self.assertEqual(self.names(q("app notin (x)")), ["b", "c"])
        self.assertEqual(self.names(q("tier")), ["a", "c"])
        self.assertEqual(self.names(q("!tier")), ["b"])
        self.assertEqual(self.names(q("tier,app!=z")), ["a"])
        code, _, body = self.s.request("GET", PODS + "?" + q("app in ()"))
        self.assertEqual(code, 400, body)

    def test_field_selectors(self):
        self.create(pod("a", node="n1"))
        self.create(pod("b", node="n2"))
        self.s.request("PATCH", PODS + "/b/status", {"status": {"phase": "Running"}},
                       ctype="application/merge-patch+json")

        self.assertEqual(self.names("fieldSelector=status.phase%3DRunning"), ["b"])
        self.assertEqual(self.names("fieldSelector=spec.nodeName%3Dn1"), ["a"])
        self.assertEqual(self.names("fieldSelector=status.phase!%3DRunning"), ["a"])
        self.assertEqual(self.names("fieldSelector=metadata.name%3Da,spec.nodeName%3Dn1"), ["a"])
        code, _, body = self.s.request("GET", PODS + "?fieldSelector=spec.bogus%3D1")
        self.assertEqual(code, 400)
        self.assertEqual(body["message"], "field label not supported: spec.bogus")

    def test_pagination_is_a_consistent_snapshot(self):
        for i in range(25):
            self.create(pod("p-%02d" % i))

        _, _, page1 = self.s.request("GET", PODS + "?limit=10")
        self.create(pod("p-99"))
        self.s.request("DELETE", PODS + "/p-20")
        _, _, page2 = self.s.request("GET", PODS + "?limit=10&continue=" +
                                     urllib.parse.quote(page1["metadata"]["continue"]))
        _, _, page3 = self.s.request("GET", PODS + "?limit=10&continue=" +
                                     urllib.parse.quote(page2["metadata"]["continue"]))

        self.assertEqual(len(page1["items"]), 10)
        self.assertEqual(page1["metadata"]["remainingItemCount"], 15)
        self.assertEqual(page2["metadata"]["resourceVersion"],
                         page1["metadata"]["resourceVersion"])
        names = [i["metadata"]["name"] for p in (page1, page2, page3) for i in p["items"]]
        self.assertEqual(names, ["p-%02d" % i for i in range(25)])
        self.assertNotIn("continue", page3["metadata"])

    def test_expired_continue_is_410(self):
        for i in range(3):
            self.create(pod("p-%d" % i))
        _, _, page1 = self.s.request("GET", PODS + "?limit=1")
        self.s.admin("POST", "/expire-history")
        self.create(pod("later"))

        code, _, body = self.s.request("GET", PODS + "?limit=1&continue=" +
                                       urllib.parse.quote(page1["metadata"]["continue"]))

        self.assertEqual(code, 410)
        self.assertEqual(body["reason"], "Expired")

    def test_large_responses_are_gzipped_only_for_clients_that_ask(self):
        for i in range(120):
            p = pod("big-%03d" % i)
            p["metadata"]["annotations"] = {"pad": "x" * 1200}
            self.create(p)

        _, plain, body = self.s.request("GET", PODS)
        c = self.s.conn()
        c.request("GET", PODS, headers={"Authorization": "Bearer " + TOKEN,
                                        "Accept-Encoding": "gzip"})
        r = c.getresponse()
        import gzip
        unzipped = json.loads(gzip.decompress(r.read()))
        c.close()

        self.assertIsNone(plain.getheader("Content-Encoding"))
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        self.assertEqual(len(unzipped["items"]), 120)
        self.assertEqual(unzipped["items"], body["items"])

    def test_list_at_a_future_resource_version_times_out_with_504(self):
        current = int(self.s.admin("GET", "/stats")["resourceVersion"])

        started = time.time()
        code, _, body = self.s.request("GET", PODS + "?resourceVersion=%d" % (current + 1000))

        self.assertEqual(code, 504)
        self.assertEqual(body["details"]["causes"][0]["reason"], "ResourceVersionTooLarge")
        self.assertGreaterEqual(time.time() - started, 2.9)

    def test_list_at_an_exact_past_resource_version_is_that_snapshot(self):
        a = self.create(pod("a"))
        self.create(pod("b"))

        code, _, body = self.s.request("GET", PODS + "?resourceVersionMatch=Exact&resourceVersion="
                                       + a["metadata"]["resourceVersion"])

        self.assertEqual(code, 200)
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["a"])
        self.assertEqual(body["metadata"]["resourceVersion"], a["metadata"]["resourceVersion"])

    def test_table_for_pods(self):
        self.create(pod("a"))

        _, _, table = self.s.request("GET", PODS, headers={
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})

        self.assertEqual(table["kind"], "Table")
        self.assertEqual([c["name"] for c in table["columnDefinitions"] if c["priority"] == 0],
                         ["Name", "Ready", "Status", "Restarts", "Age"])
        self.assertEqual(table["rows"][0]["cells"][:4], ["a", "0/1", "Pending", 0])
        self.assertEqual(table["rows"][0]["object"]["kind"], "PartialObjectMetadata")

    # ---- watch ---------------------------------------------------------------------------

    def test_watch_from_resource_version_streams_changes_in_order(self):
        a = self.create(pod("a"))
        rv = a["metadata"]["resourceVersion"]
        self.s.request("PATCH", PODS + "/a", {"metadata": {"labels": {"v": "2"}}},
                       ctype="application/merge-patch+json")
        self.s.request("DELETE", PODS + "/a")

        c, r = self.s.watch(PODS + "?watch=1&resourceVersion=%s&timeoutSeconds=1" % rv)
        events = []
        while True:
            e = next_event(r)
            if e is None:
                break
            events.append(e)
        c.close()

        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertEqual([e["type"] for e in events], ["MODIFIED", "DELETED"])
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
        self.assertTrue(int(rv) < rvs[0] < rvs[1])

    def test_watch_without_resource_version_starts_with_synthetic_added(self):
        self.create(pod("a"))
        self.create(pod("b"))

        c, r = self.s.watch(PODS + "?watch=true&timeoutSeconds=1")
        events = [next_event(r), next_event(r)]
        c.close()

        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in events],
                         [("ADDED", "a"), ("ADDED", "b")])

    def test_watch_too_old_resource_version_is_an_expired_error_event(self):
        self.create(pod("a"))
        self.s.admin("POST", "/expire-history")
        current = int(self.s.admin("GET", "/stats")["resourceVersion"])

        c, r = self.s.watch(PODS + "?watch=1&resourceVersion=1")
        e = next_event(r)
        end = next_event(r)
        c.close()

        self.assertEqual(r.status, 200)
        self.assertEqual(e, {"type": "ERROR", "object": {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "too old resource version: 1 (%d)" % current, "reason": "Expired",
            "code": 410}})
        self.assertIsNone(end)

    def test_history_window_expires_old_resource_versions(self):
        first = self.create(pod("first"))
        for i in range(60):  # the server keeps 50 events
            self.s.request("PATCH", PODS + "/first", {"metadata": {"labels": {"i": str(i)}}},
                           ctype="application/merge-patch+json")

        c, r = self.s.watch(PODS + "?watch=1&resourceVersion=" +
                            first["metadata"]["resourceVersion"])
        e = next_event(r)
        c.close()

        self.assertEqual(e["type"], "ERROR")
        self.assertEqual(e["object"]["code"], 410)

    def test_watch_selector_transitions_become_added_and_deleted(self):
        a = self.create(pod("a", {"app": "x"}))
        c, r = self.s.watch(PODS + "?watch=1&labelSelector=app%3Dx&resourceVersion=" +
                            a["metadata"]["resourceVersion"])

        self.s.request("PATCH", PODS + "/a", {"metadata": {"labels": {"app": "y"}}},
                       ctype="application/merge-patch+json")
        self.s.request("PATCH", PODS + "/a", {"metadata": {"labels": {"app": "x"}}},
                       ctype="application/merge-patch+json")
        self.create(pod("other", {"app": "y"}))
        self.s.request("PATCH", PODS + "/a", {"metadata": {"labels": {"k": "v"}}},
                       ctype="application/merge-patch+json")
        events = [next_event(r) for _ in range(3)]
        c.close()

        self.assertEqual([(e["type"], e["object"]["metadata"]["labels"].get("app"))
                          for e in events],
                         [("DELETED", "y"), ("ADDED", "x"), ("MODIFIED", "x")])

    def test_watch_timeout_ends_the_stream_cleanly(self):
        started = time.time()
        c, r = self.s.watch(PODS + "?watch=1&timeoutSeconds=1&resourceVersion=0")

        body = r.read()  # raises IncompleteRead if the final chunk is missing
        c.close()

        self.assertEqual(body, b"")
        self.assertGreaterEqual(time.time() - started, 0.9)

    def test_send_initial_events_ends_with_marked_bookmark(self):
        self.create(pod("a"))

        c, r = self.s.watch(PODS + "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
                                   "&resourceVersionMatch=NotOlderThan&resourceVersion=")
        added = next_event(r)
        bookmark = next_event(r)
        c.close()

        self.assertEqual(added["type"], "ADDED")
        self.assertEqual(bookmark["type"], "BOOKMARK")
        self.assertEqual(bookmark["object"]["metadata"]["annotations"],
                         {"k8s.io/initial-events-end": "true"})
        self.assertEqual(set(bookmark["object"]), {"kind", "apiVersion", "metadata"})

    def test_drop_watches_closes_streams_abruptly(self):
        c, r = self.s.watch(PODS + "?watch=1&resourceVersion=0")
        deadline = time.time() + 5
        while self.s.admin("GET", "/stats")["openWatches"] < 1 and time.time() < deadline:
            time.sleep(0.02)

        dropped = self.s.admin("POST", "/drop-watches")

        self.assertEqual(dropped["dropped"], 1)
        with self.assertRaises((http.client.IncompleteRead, ConnectionError, ssl.SSLError)):
            r.read()
        c.close()
        deadline = time.time() + 5
        while self.s.admin("GET", "/stats")["openWatches"] and time.time() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.s.admin("GET", "/stats")["openWatches"], 0)

    def test_idle_watch_ends_when_the_client_disconnects(self):
        c, r = self.s.watch(PODS + "?watch=1&resourceVersion=0")
        deadline = time.time() + 5
        while self.s.admin("GET", "/stats")["openWatches"] < 1 and time.time() < deadline:
            time.sleep(0.02)

        c.close()
        r.close()

        deadline = time.time() + 5
        while self.s.admin("GET", "/stats")["openWatches"] and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.s.admin("GET", "/stats")["openWatches"], 0)

    # ---- faults --------------------------------------------------------------------------

    def test_fail_injection_answers_with_status_and_retry_after(self):
        self.s.admin("POST", "/fail", {"count": 2, "code": 429, "retryAfterSeconds": 3,
                                       "pathPrefix": "/api/v1/namespaces/default/pods"})

        first = self.s.request("GET", PODS)
        other = self.s.request("GET", "/api/v1/namespaces")
        second = self.s.request("GET", PODS)
        third = self.s.request("GET", PODS)

        self.assertEqual(first[0], 429)
        self.assertEqual(first[1].getheader("Retry-After"), "3")
        self.assertEqual(first[2]["reason"], "TooManyRequests")
        self.assertEqual(first[2]["details"], {"retryAfterSeconds": 3})
        self.assertEqual(other[0], 200)
        self.assertEqual(second[0], 429)
        self.assertEqual(third[0], 200)

    def test_latency_delays_responses(self):
        self.s.admin("POST", "/latency", {"ms": 300})
        try:
            started = time.time()
            self.s.request("GET", PODS)
            elapsed = time.time() - started
        finally:
            self.s.admin("POST", "/latency", {"ms": 0})

        self.assertGreaterEqual(elapsed, 0.3)

    def test_requests_are_recorded(self):
        self.s.admin("DELETE", "/requests")

        self.s.request("GET", PODS + "?limit=5", headers={"User-Agent": "probe/1"})

        log = self.s.admin("GET", "/requests")
        self.assertEqual(log[-1]["method"], "GET")
        self.assertEqual(log[-1]["path"], PODS)
        self.assertEqual(log[-1]["query"], "limit=5")
        self.assertEqual(log[-1]["code"], 200)
        self.assertEqual(log[-1]["userAgent"], "probe/1")


class CrdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server()
        code, _, body = cls.s.request("POST", "/apis/apiextensions.k8s.io/v1/"
                                              "customresourcedefinitions", WIDGET_CRD)
        assert code == 201, body

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()

    def setUp(self):
        self.s.request("DELETE", GADGETS)

    def test_crd_is_established_and_discoverable(self):
        _, _, crd = self.s.request("GET", "/apis/apiextensions.k8s.io/v1/"
                                          "customresourcedefinitions/gadgets.test.libcluster.dev")
        _, _, group = self.s.request("GET", "/apis/test.libcluster.dev")
        _, _, resources = self.s.request("GET", "/apis/test.libcluster.dev/v1")
        _, r, aggregated = self.s.request("GET", "/apis", headers={
            "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                      "application/json"})

        self.assertIn({"type": "Established", "status": "True"},
                      [{k: c[k] for k in ("type", "status")} for c in crd["status"]["conditions"]])
        self.assertEqual(group["preferredVersion"]["groupVersion"], "test.libcluster.dev/v1")
        gadgets = [x for x in resources["resources"] if x["name"] == "gadgets"][0]
        self.assertEqual(gadgets["shortNames"], ["gdg"])
        self.assertEqual(gadgets["categories"], ["libcluster-test"])
        self.assertIn("gadgets/status", [x["name"] for x in resources["resources"]])
        self.assertTrue(r.getheader("Content-Type").startswith(
            "application/json;g=apidiscovery.k8s.io;v=v2"))
        self.assertIn("test.libcluster.dev",
                      [i["metadata"].get("name") for i in aggregated["items"]])

    def test_schema_defaults_pruning_and_generation(self):
        code, r, created = self.s.request("POST", GADGETS, {
            "apiVersion": "test.libcluster.dev/v1", "kind": "Gadget",
            "metadata": {"name": "g"}, "spec": {"size": 2, "unknown": 1, "free": {"any": [1]}},
            "status": {"phase": "ignored on create"}})

        self.assertEqual(code, 201, created)
        self.assertEqual(created["spec"], {"size": 2, "limit": 10, "free": {"any": [1]}})
        self.assertNotIn("status", created)
        self.assertEqual(r.getheader("Warning"), '299 - "unknown field \\"spec.unknown\\""')
        self.assertEqual(created["metadata"]["generation"], 1)
        _, _, patched = self.s.request("PATCH", GADGETS + "/g", {"spec": {"size": 3}},
                                       ctype="application/merge-patch+json")
        self.assertEqual(patched["metadata"]["generation"], 2)
        _, _, status = self.s.request("PATCH", GADGETS + "/g/status",
                                      {"status": {"phase": "Ready"}},
                                      ctype="application/merge-patch+json")
        self.assertEqual(status["metadata"]["generation"], 2)
        self.assertEqual(status["status"], {"phase": "Ready"})

    def test_validation_errors_are_422_with_field_causes(self):
        code, _, body = self.s.request("POST", GADGETS, {
            "apiVersion": "test.libcluster.dev/v1", "kind": "Gadget", "metadata": {"name": "g"},
            "spec": {"size": 0, "mode": "c"}})

        self.assertEqual(code, 422)
        self.assertEqual(body["reason"], "Invalid")
        self.assertEqual(body["message"],
                         'Gadget.test.libcluster.dev "g" is invalid: [spec.size: Invalid value: '
                         '0: spec.size in body should be greater than or equal to 1, spec.mode: '
                         'Unsupported value: "c": supported values: "a", "b"]')
        self.assertEqual(body["details"]["group"], "test.libcluster.dev")
        self.assertEqual(body["details"]["kind"], "Gadget")
        self.assertEqual([(c["reason"], c["field"]) for c in body["details"]["causes"]],
                         [("FieldValueInvalid", "spec.size"),
                          ("FieldValueNotSupported", "spec.mode")])

    def test_simple_cel_rules_are_evaluated(self):
        code, _, body = self.s.request("POST", GADGETS, {
            "apiVersion": "test.libcluster.dev/v1", "kind": "Gadget", "metadata": {"name": "g"},
            "spec": {"size": 11}})

        self.assertEqual(code, 422, body)
        self.assertIn("spec: Invalid value: \"object\": size must not exceed limit",
                      body["message"])

    def test_strategic_merge_patch_on_custom_resources_is_415(self):
        self.s.request("POST", GADGETS, {"apiVersion": "test.libcluster.dev/v1",
                                         "kind": "Gadget", "metadata": {"name": "g"},
                                         "spec": {"size": 1}})

        code, _, body = self.s.request("PATCH", GADGETS + "/g", {"spec": {"size": 2}},
                                       ctype="application/strategic-merge-patch+json")

        self.assertEqual(code, 415)
        self.assertEqual(body["reason"], "UnsupportedMediaType")

    def test_deleting_the_crd_unregisters_the_resource_and_ends_watches(self):
        s = Server()
        try:
            s.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                      WIDGET_CRD)
            s.request("POST", GADGETS, {"apiVersion": "test.libcluster.dev/v1",
                                        "kind": "Gadget", "metadata": {"name": "g"},
                                        "spec": {"size": 1}})
            c, r = s.watch(GADGETS + "?watch=1&resourceVersion=0")
            added = next_event(r)

            s.request("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                                "gadgets.test.libcluster.dev")
            deleted = next_event(r)
            rest = r.read()
            c.close()

            self.assertEqual(added["type"], "ADDED")
            self.assertEqual(deleted["type"], "DELETED")
            self.assertEqual(rest, b"", "stream ends cleanly")
            self.assertEqual(s.request("GET", GADGETS)[0], 404)
            self.assertEqual(s.request("GET", "/apis/test.libcluster.dev/v1")[0], 404)
        finally:
            s.stop()


class ScaleTest(unittest.TestCase):
    def test_thousands_of_pods_list_page_and_replay(self):
        import threading
        s = Server("--history", "5000")
        try:
            def load(lo, hi):
                c = s.conn()
                for i in range(lo, hi):
                    p = pod("app-%04d" % i, {"app": "beam", "shard": str(i % 4)},
                            node="n%d" % (i % 7))
                    c.request("POST", PODS, json.dumps(p), {"Authorization": "Bearer " + TOKEN,
                                                           "Content-Type": "application/json"})
                    r = c.getresponse()
                    r.read()
                    assert r.status == 201, r.status
                c.close()
            threads = [threading.Thread(target=load, args=(k * 500, (k + 1) * 500))
                       for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

            _, _, full = s.request("GET", PODS)
            _, _, shard = s.request("GET", PODS + "?labelSelector=shard%3D1")
            pages, token = [], ""
            while True:
                _, _, page = s.request("GET", PODS + "?limit=500" + (
                    "&continue=" + urllib.parse.quote(token) if token else ""))
                pages.append(page)
                token = page["metadata"].get("continue")
                if not token:
                    break
            c, r = s.watch(PODS + "?watch=1&resourceVersion=0&timeoutSeconds=2", timeout=30)
            added = 0
            while True:
                e = next_event(r)
                if e is None:
                    break
                added += e["type"] == "ADDED"
            c.close()
        finally:
            s.stop()

        self.assertEqual(len(full["items"]), 2000)
        self.assertEqual(len(shard["items"]), 500)
        self.assertEqual([len(p["items"]) for p in pages], [500, 500, 500, 500])
        self.assertEqual(added, 2000)


class CelTest(unittest.TestCase):
    def test_macros_functions_and_error_absorption(self):
        sys.path.insert(0, os.path.dirname(SERVER))
        import k8scel

        cases = [
            ("self.all(s, has(s.name))", [{"name": "a"}, {}], False),
            ("self.exists(s, s.name == 'b')", [{"name": "a"}, {"name": "b"}], True),
            ("self.exists_one(s, s > 1)", [1, 2, 3], False),
            ("self.filter(s, s % 2 == 0).map(s, s * 10)", [1, 2, 3, 4], [20, 40]),
            ("(has(self.a) ? 1 : 0) + (has(self.b) ? 1 : 0) == 1", {"a": 1, "b": 2}, False),
            ("self.op in ['In', 'NotIn'] ? size(self.values) > 0 : true",
             {"op": "In", "values": []}, False),
            ("self.name.matches('^[a-z]+$') && self.name.startsWith('ab')", {"name": "abc"}, True),
            ("self.missing == 1 || true", {}, True),
            ("7 / 2 == 3 && -7 % 3 == -1", {}, True),
        ]
        for rule, value, expected in cases:
            self.assertEqual(k8scel.evaluate(rule, value), expected, rule)
        with self.assertRaises(k8scel.CelError):
            k8scel.evaluate("self.missing == 1", {})
        with self.assertRaises(k8scel.Unsupported):
            k8scel.evaluate("quantity(self.q).isGreaterThan(quantity('1'))", {"q": "2"})
        self.assertFalse(k8scel.evaluate("self.x == oldSelf.x", {"x": 1}, {"x": 2}))


class BookmarkTest(unittest.TestCase):
    def test_bookmarks_carry_only_the_resource_version(self):
        s = Server("--bookmark-interval", "0.3")
        try:
            c, r = s.watch(PODS + "?watch=1&allowWatchBookmarks=true&resourceVersion=0")
            e = next_event(r)
            c.close()
        finally:
            s.stop()

        self.assertEqual(e["type"], "BOOKMARK")
        self.assertEqual(e["object"], {"kind": "Pod", "apiVersion": "v1",
                                       "metadata": {"resourceVersion": e["object"]["metadata"][
                                           "resourceVersion"]}})
        self.assertTrue(e["object"]["metadata"]["resourceVersion"].isdigit())


VAP = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
VAPB = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"


def policy(name, validations, rules=None, conditions=None, failure="Fail", variables=None):
    spec = {"failurePolicy": failure, "validations": validations,
            "matchConstraints": {"resourceRules": rules or [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
                 "resources": ["pods/status"]}]}}
    if conditions:
        spec["matchConditions"] = conditions
    if variables:
        spec["variables"] = variables
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name}, "spec": spec}


def binding(name, policy_name, actions=("Deny",), match=None):
    spec = {"policyName": policy_name, "validationActions": list(actions)}
    if match:
        spec["matchResources"] = match
    return {"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name}, "spec": spec}


class AdmissionPolicyTest(unittest.TestCase):
    """ValidatingAdmissionPolicy evaluation and pod-bound tokens (admin POST /tokens)."""

    @classmethod
    def setUpClass(cls):
        cls.s = Server()
        s = cls.s
        for n in ("pa", "pb"):
            code, _, body = s.request("POST", PODS, pod(n))
            assert code == 201, body
        cls.uid = {n: s.request("GET", PODS + "/" + n)[2]["metadata"]["uid"] for n in ("pa", "pb")}
        s.admin("POST", "/tokens", {"token": "tok-a", "username": "system:serviceaccount:default:app",
                                    "pod": {"name": "pa", "uid": cls.uid["pa"]}})
        s.admin("POST", "/tokens", {"token": "tok-free",
                                    "username": "system:serviceaccount:default:app"})

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()

    def tearDown(self):
        self.s.request("DELETE", VAPB)
        self.s.request("DELETE", VAP)

    def install(self, pol, bind):
        self.assertEqual(self.s.request("POST", VAP, pol)[0], 201)
        self.assertEqual(self.s.request("POST", VAPB, bind)[0], 201)

    def patch_status(self, name, token, phase="Running"):
        return self.s.request("PATCH", PODS + "/" + name + "/status",
                              {"status": {"phase": phase}}, "application/merge-patch+json",
                              token=token)

    def own_pod_policy(self, **kw):
        return policy("own", [{
            "expression": "'authentication.kubernetes.io/pod-name' in request.userInfo.extra && "
                          "request.userInfo.extra['authentication.kubernetes.io/pod-name'] == "
                          "[request.name] && request.userInfo.extra["
                          "'authentication.kubernetes.io/pod-uid'] == [oldObject.metadata.uid]",
            "message": "only your own pod", "reason": "Forbidden"}],
            conditions=[{"name": "sa", "expression":
                         "request.userInfo.username.startsWith('system:serviceaccount:')"}], **kw)

    def test_extra_tokens_authenticate_with_their_identity(self):
        code, _, _ = self.s.request("GET", PODS, token="tok-a")
        self.assertEqual(code, 200)
        self.assertEqual(self.s.request("GET", PODS, token="tok-unknown")[0], 401)
        users = [r.get("user") for r in self.s.admin("GET", "/requests")]
        self.assertIn("system:serviceaccount:default:app", users)

    def test_pod_bound_token_may_write_only_its_pod(self):
        self.install(self.own_pod_policy(), binding("own", "own"))

        ok = self.patch_status("pa", "tok-a")
        denied = self.patch_status("pb", "tok-a", "Failed")
        unbound = self.patch_status("pa", "tok-free", "Failed")
        admin = self.patch_status("pb", TOKEN, "Running")

        self.assertEqual(ok[0], 200, ok[2])
        self.assertEqual(denied[0], 403)
        self.assertEqual(denied[2]["reason"], "Forbidden")
        self.assertEqual(denied[2]["message"],
                         'pods "pb" is forbidden: ValidatingAdmissionPolicy \'own\' with binding '
                         '\'own\' denied request: only your own pod')
        self.assertEqual(unbound[0], 403)
        self.assertEqual(admin[0], 200)
        self.assertEqual(self.s.request("GET", PODS + "/pb")[2]["status"]["phase"], "Running")

    def test_binding_namespace_selector_scopes_the_policy(self):
        self.install(self.own_pod_policy(), binding("own", "own", match={
            "namespaceSelector": {"matchLabels": {"enforce": "yes"}}}))

        self.assertEqual(self.patch_status("pb", "tok-a")[0], 200)
        self.s.request("PATCH", "/api/v1/namespaces/default", {"metadata": {"labels": {
            "enforce": "yes"}}}, "application/merge-patch+json")
        try:
            self.assertEqual(self.patch_status("pb", "tok-a", "Failed")[0], 403)
        finally:
            self.s.request("PATCH", "/api/v1/namespaces/default", {"metadata": {"labels": {
                "enforce": None}}}, "application/merge-patch+json")

    def test_warn_action_warns_and_admits(self):
        self.install(self.own_pod_policy(), binding("own", "own", actions=("Warn",)))

        code, r, _ = self.patch_status("pb", "tok-a", "Succeeded")

        self.assertEqual(code, 200)
        self.assertIn("Validation failed for ValidatingAdmissionPolicy 'own' with binding 'own'",
                      r.getheader("Warning"))

    def test_unevaluable_expressions_follow_the_failure_policy(self):
        rule = [{"expression": "quantity('1Gi').isGreaterThan(quantity('1Mi'))"}]
        self.install(policy("strict", rule), binding("strict", "strict"))
        self.assertEqual(self.patch_status("pa", TOKEN)[0], 403)
        self.tearDown()
        self.install(policy("lax", rule, failure="Ignore"), binding("lax", "lax"))
        self.assertEqual(self.patch_status("pa", TOKEN, "Pending")[0], 200)

    def test_message_expression_variables_and_other_operations(self):
        rules = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "DELETE"],
                  "resources": ["configmaps"]}]
        self.install(policy("cm", [{
            "expression": "request.operation == 'DELETE' ? oldObject.metadata.name != 'keep' : "
                          "variables.size <= 1",
            "messageExpression": "'too many keys: ' + string(variables.size)"}],
            rules=rules, variables=[{"name": "size", "expression":
                                     "object == null ? 0 : size(object.data)"}]),
            binding("cm", "cm"))
        cms = "/api/v1/namespaces/default/configmaps"
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep"},
              "data": {"a": "1"}}

        self.assertEqual(self.s.request("POST", cms, cm)[0], 201)
        big = dict(cm, metadata={"name": "big"}, data={"a": "1", "b": "2"})
        code, _, body = self.s.request("POST", cms, big)
        self.assertEqual(code, 422)
        self.assertIn("denied request: too many keys: 2", body["message"])
        self.assertEqual(self.s.request("DELETE", cms + "/keep")[0], 422)


if __name__ == "__main__":
    unittest.main()
