#!/usr/bin/python3
"""A loopback Kubernetes API server for tests.

Speaks the kube-apiserver wire protocol closely enough for kubectl and our C++ client: discovery
(legacy and aggregated v2), generic storage with one resourceVersion counter, list/watch with
selectors, pagination and a bounded watch history, create/update/patch (merge, JSON, strategic,
server-side apply)/delete, the status subresource, CustomResourceDefinitions with schema validation,
server-side Table printing and OpenAPI v3. A plain-HTTP admin listener injects faults.

Usage: apiserver.py --dir DIR [--port 0] [--admin-port 0] [--http] [--token T] [--history 1000]
                    [--bookmark-interval SECONDS] [--exit-with-parent] [--verbose]
See README.md.
"""

import argparse
import base64
import bisect
import collections
import copy
import datetime
import gzip
import hashlib
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import k8sadmission  # noqa: E402  (ValidatingAdmissionPolicy)
import k8sproto  # noqa: E402  (protobuf request bodies from typed clients)
import k8sutil  # noqa: E402  (selectors, patches, schema validation, tables, openapi)
from k8sutil import ApiError, status  # noqa: E402

VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4",
    "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T16:02:27Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}

GZIP_THRESHOLD = 128 * 1024
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------
# Resource registry


class Resource:
    """One served resource in one group/version."""

    def __init__(self, group, version, plural, kind, namespaced, singular=None, short_names=(),
                 categories=(), status=False, builtin=True, schema=None, printer_columns=None,
                 storage_version=None, crd_name=None, list_map_keys=None, selectable_fields=()):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.list_kind = kind + "List"
        self.namespaced = namespaced
        self.singular = singular or kind.lower()
        self.short_names = list(short_names)
        self.categories = list(categories)
        self.status = status
        self.builtin = builtin
        self.schema = schema
        self.printer_columns = printer_columns
        self.storage_version = storage_version or version
        self.crd_name = crd_name
        self.list_map_keys = list_map_keys
        self.selectable_fields = list(selectable_fields)
        # Scale subresource: (specReplicasPath, statusReplicasPath, labelSelectorPath) or None.
        self.scale = None

    @property
    def api_version(self):
        return self.version if not self.group else self.group + "/" + self.version

    @property
    def gr(self):
        """Storage identity. events.k8s.io events are the core events, converted."""
        if self.builtin and self.group == "events.k8s.io" and self.plural == "events":
            return ("", "events")
        return (self.group, self.plural)

    @property
    def served_gr(self):
        return (self.group, self.plural)

    @property
    def qualified(self):
        """Resource name as used in Status messages: "pods", "deployments.apps"."""
        return self.plural if not self.group else self.plural + "." + self.group

    @property
    def qualified_kind(self):
        return self.kind if not self.group else self.kind + "." + self.group

    def details(self, name):
        d = {"name": name}
        if self.group:
            d["group"] = self.group
        d["kind"] = self.plural
        return d


BUILTINS = [
    # group, version, plural, kind, namespaced, shortNames, categories, status
    ("", "v1", "namespaces", "Namespace", False, ["ns"], [], True),
    ("", "v1", "pods", "Pod", True, ["po"], ["all"], True),
    ("", "v1", "events", "Event", True, ["ev"], [], False),
    ("", "v1", "configmaps", "ConfigMap", True, ["cm"], [], False),
    ("", "v1", "secrets", "Secret", True, [], [], False),
    ("", "v1", "services", "Service", True, ["svc"], ["all"], True),
    ("", "v1", "serviceaccounts", "ServiceAccount", True, ["sa"], [], False),
    ("", "v1", "endpoints", "Endpoints", True, ["ep"], [], False),
    ("", "v1", "nodes", "Node", False, ["no"], [], True),
    ("apps", "v1", "deployments", "Deployment", True, ["deploy"], ["all"], True),
    ("apps", "v1", "statefulsets", "StatefulSet", True, ["sts"], ["all"], True),
    ("coordination.k8s.io", "v1", "leases", "Lease", True, [], [], False),
    ("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True, [], [], False),
    ("events.k8s.io", "v1", "events", "Event", True, ["ev"], [], False),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role", True, [], [], False),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, [], [], False),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, [], [], False),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False, [], [],
     False),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
     ["crd", "crds"], ["api-extensions"], True),
    ("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies",
     "ValidatingAdmissionPolicy", False, [], ["api-extensions"], True),
    ("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings",
     "ValidatingAdmissionPolicyBinding", False, [], ["api-extensions"], False),
]

# The identity of the request being handled (set by ApiHandler.dispatch), for admission.
# None for the server's own writes.
CURRENT = threading.local()

# Preferred order of groups in discovery, like the real server's priority list.
GROUP_ORDER = ["", "apps", "events.k8s.io", "rbac.authorization.k8s.io", "coordination.k8s.io",
               "discovery.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io"]


class Registry:
    """Served resources, keyed by (group, version, plural). Guarded by the store lock."""

    def __init__(self):
        self.resources = {}
        self.order = []  # (group, version) in registration order
        for group, version, plural, kind, namespaced, short, cats, status in BUILTINS:
            self.add(Resource(group, version, plural, kind, namespaced, short_names=short,
                              categories=cats, status=status))

    def add(self, res):
        if res.builtin and res.gr in (("apps", "deployments"), ("apps", "statefulsets")):
            res.scale = (".spec.replicas", ".status.replicas", ".status.selector")
        self.resources[(res.group, res.version, res.plural)] = res
        if (res.group, res.version) not in self.order:
            self.order.append((res.group, res.version))

    def remove_crd(self, crd_name):
        for key in [k for k, r in self.resources.items() if r.crd_name == crd_name]:
            del self.resources[key]
        self.order = [gv for gv in self.order
                      if any((r.group, r.version) == gv for r in self.resources.values())]

    def get(self, group, version, plural):
        return self.resources.get((group, version, plural))

    def groups(self):
        """[(group, [versions...])] with the preferred (storage or first) version first."""
        seen = collections.OrderedDict()
        gvs = sorted(self.order, key=lambda gv: (GROUP_ORDER.index(gv[0])
                                                 if gv[0] in GROUP_ORDER else len(GROUP_ORDER),
                                                 ))
        for group, version in gvs:
            seen.setdefault(group, [])
            if version not in seen[group]:
                seen[group].append(version)
        for group, versions in seen.items():
            versions.sort(key=k8sutil.version_priority_key)
        return list(seen.items())

    def in_gv(self, group, version):
        return [r for r in self.resources.values() if r.group == group and r.version == version]

    def storage_resource(self, group, plural):
        for r in self.resources.values():
            if r.group == group and r.plural == plural and r.version == r.storage_version:
                return r
        return None


# --------------------------------------------------------------------------------------------
# Storage, history and watchers


class Event:
    __slots__ = ("rv", "type", "gr", "ns", "name", "obj", "prev", "line")

    def __init__(self, rv, type_, gr, ns, name, obj, prev):
        self.rv = rv
        self.type = type_
        self.gr = gr
        self.ns = ns
        self.name = name
        self.obj = obj
        self.prev = prev
        self.line = None  # encoded watch line, shared by all watchers that send it as is


class Watcher:
    """One open watch. Writers append under the store lock; the handler thread drains."""

    def __init__(self, gr, ns):
        self.gr = gr
        self.ns = ns
        self.queue = collections.deque()
        self.cond = threading.Condition(threading.Lock())
        self.dropped = False
        self.ended = False
        self.closed = False
        self.connection = None

    def offer(self, event):
        with self.cond:
            self.queue.append(event)
            self.cond.notify()

    def end(self):
        """Ends the stream cleanly once queued events are sent."""
        with self.cond:
            self.ended = True
            self.cond.notify()

    def drop(self):
        with self.cond:
            self.dropped = True
            self.cond.notify()
        conn = self.connection
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Store:
    def __init__(self, history):
        self.lock = threading.RLock()
        self.rv = 0
        self.objects = collections.defaultdict(dict)  # gr -> {(ns, name): obj}
        self.sorted_keys = {}  # gr -> sorted list of keys, invalidated on create/delete
        self.history = collections.deque()
        self.history_size = history
        self.history_floor = 0  # every event with rv > floor is in history
        self.expired_at = 0  # continue tokens issued at or before this rv are expired
        self.watchers = collections.defaultdict(set)
        self.registry = Registry()
        # id(stored object) -> (object, JSON bytes). Stored objects are never mutated, so
        # lists and watches reuse one encoding per object version.
        self.encoded = {}

    def encode(self, obj, cache=True):
        entry = self.encoded.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        data = json.dumps(obj, separators=(",", ":")).encode()
        if cache:
            self.encoded[id(obj)] = (obj, data)
        return data

    def next_rv(self):
        self.rv += 1
        return self.rv

    def keys(self, gr):
        keys = self.sorted_keys.get(gr)
        if keys is None:
            keys = sorted(self.objects[gr].keys())
            self.sorted_keys[gr] = keys
        return keys

    def commit(self, type_, gr, ns, name, obj, prev):
        """Records a change. obj already carries its new resourceVersion (self.rv)."""
        obj = k8sutil.canonical_order(obj)
        key = (ns or "", name)
        table = self.objects[gr]
        if type_ == "DELETED":
            table.pop(key, None)
            self.sorted_keys.pop(gr, None)
        else:
            if key not in table:
                self.sorted_keys.pop(gr, None)
            table[key] = obj
        if prev is not None:
            self.encoded.pop(id(prev), None)
        ev = Event(self.rv, type_, gr, ns or "", name, obj, prev)
        self.history.append(ev)
        while len(self.history) > self.history_size:
            old = self.history.popleft()
            self.history_floor = old.rv
        for w in list(self.watchers.get(gr, ())):
            w.offer(ev)
        return ev

    def expire_history(self):
        with self.lock:
            self.history.clear()
            self.history_floor = self.rv
            self.expired_at = self.rv

    def events_since(self, rv, gr):
        """Events for gr with rv > given rv. Caller holds the lock and checked the floor."""
        out = []
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            if ev.gr == gr:
                out.append(ev)
        out.reverse()
        return out

    def snapshot_at(self, gr, rv):
        """The objects of gr as they were at rv, rebuilt by undoing later history. Lock held."""
        table = dict(self.objects[gr])
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            if ev.gr != gr:
                continue
            key = (ev.ns, ev.name)
            if ev.type == "ADDED":
                table.pop(key, None)
            else:
                table[key] = ev.prev
        return table


# --------------------------------------------------------------------------------------------
# Certificates and kubeconfig

OPENSSL_CNF = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,IP:::1,DNS:localhost
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
"""


def generate_certs(d):
    cnf = os.path.join(d, "openssl.cnf")
    with open(cnf, "w") as f:
        f.write(OPENSSL_CNF)

    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    p = lambda n: os.path.join(d, n)  # noqa: E731
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", "-new", *ec, "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "7",
        "-config", cnf, "-extensions", "v3_ca", "-subj", "/CN=libcluster-test-ca")
    for name, cn, ext in (("server", "/CN=kube-apiserver", "v3_server"),
                          ("client", "/O=system:masters/CN=test-client", "v3_client")):
        run("req", "-new", *ec, "-keyout", p(name + ".key"), "-out", p(name + ".csr"),
            "-config", cnf, "-subj", cn)
        run("x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
            "-set_serial", str(random.randint(1 << 32, 1 << 62)), "-out", p(name + ".crt"),
            "-days", "7", "-extfile", cnf, "-extensions", ext)
        os.unlink(p(name + ".csr"))
    os.unlink(cnf)


def b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def write_kubeconfig(path, url, cluster_data, user):
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": "test", "cluster": dict(server=url, **cluster_data)}],
        "users": [{"name": "test-user", "user": user}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test-user",
                                                  "namespace": "default"}}],
        "current-context": "test",
    }
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, default_flow_style=False)


# --------------------------------------------------------------------------------------------
# Status objects


ADMIN_USER = {"username": "test-admin", "uid": "", "extra": {},
              "groups": ["system:masters", "system:authenticated"]}


def not_found(res, name):
    return ApiError(404, status(404, "NotFound", '%s "%s" not found' % (res.qualified, name),
                                res.details(name)))


def already_exists(res, name):
    return ApiError(409, status(409, "AlreadyExists", '%s "%s" already exists' % (res.qualified,
                                                                                  name),
                                res.details(name)))


def conflict(res, name):
    return ApiError(409, status(409, "Conflict",
                                'Operation cannot be fulfilled on %s "%s": the object has been '
                                'modified; please apply your changes to the latest version and '
                                'try again' % (res.qualified, name), res.details(name)))


def bad_request(message):
    return ApiError(400, status(400, "BadRequest", message))


def method_not_allowed():
    return ApiError(405, status(405, "MethodNotAllowed",
                                "the server does not allow this method on the requested resource",
                                {}))


def resource_not_found():
    return ApiError(404, status(404, "NotFound", "the server could not find the requested resource",
                                {}))


def invalid(res, name, causes):
    """causes: [(reason, field, message)] -> 422 Status formatted like the real server."""
    parts = ["%s: %s" % (f, m) if f else m for (_, f, m) in causes]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = {"name": name}
    if res.group:
        details["group"] = res.group
    details["kind"] = res.kind
    details["causes"] = [{"reason": r, "message": m, "field": f} for (r, f, m) in causes]
    return ApiError(422, status(422, "Invalid", '%s "%s" is invalid: %s' % (res.qualified_kind,
                                                                           name, summary),
                                details))


def expired(message):
    return ApiError(410, status(410, "Expired", message))


# --------------------------------------------------------------------------------------------
# The API


DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric character "
                 "(e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
             "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
             "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


class Api:
    """All API semantics, independent of HTTP. Methods raise ApiError for Status responses."""

    def __init__(self, args):
        self.args = args
        self.store = Store(args.history)
        self.bookmark_interval = args.bookmark_interval
        with self.store.lock:
            for ns in ("default", "kube-system"):
                self._create_namespace_locked(ns)

    # ---- helpers -------------------------------------------------------------------------

    def _create_namespace_locked(self, name):
        res = self.store.registry.get("", "v1", "namespaces")
        obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
               "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        self._stamp_new(res, obj, "kube-apiserver")
        obj["metadata"]["labels"] = {"kubernetes.io/metadata.name": name}
        obj["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.commit("ADDED", res.gr, "", name, obj, None)

    def _stamp_new(self, res, obj, manager, subresource=None):
        md = obj["metadata"]
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now_rfc3339()
        md.pop("deletionTimestamp", None)
        md.pop("deletionGracePeriodSeconds", None)
        if self._has_generation(res):
            md["generation"] = 1
        else:
            md.pop("generation", None)

    def _has_generation(self, res):
        """Which kinds carry metadata.generation on the real server."""
        if not res.builtin:
            return True
        return res.gr in (("apps", "deployments"), ("apps", "statefulsets"),
                          ("discovery.k8s.io", "endpointslices"),
                          ("apiextensions.k8s.io", "customresourcedefinitions"),
                          k8sadmission.POLICIES)

    def _admit(self, res, operation, ns, name, obj, old, subresource, query):
        """ValidatingAdmissionPolicies (lock held); raises ApiError to deny, returns warnings."""
        return k8sadmission.admit(self.store, res, operation, ns, name,
                                  copy.deepcopy(obj) if obj is not None else None,
                                  copy.deepcopy(old) if old is not None else None,
                                  subresource, getattr(CURRENT, "user", None),
                                  bool(query.get("dryRun")))

    def _returns_deleted_object(self, res):
        """Stores with ReturnDeletedObject (or custom REST) answer a delete with the object;
        the others with a Success Status."""
        return res.builtin and res.gr in (("", "pods"), ("", "serviceaccounts"),
                                          ("", "namespaces"),
                                          ("apiextensions.k8s.io", "customresourcedefinitions"))

    def _success_status(self, res, obj):
        details = {"name": obj["metadata"]["name"]}
        if res.group:
            details["group"] = res.group
        details["kind"] = res.plural
        details["uid"] = obj["metadata"].get("uid", "")
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": details}

    def get_object(self, res, ns, name):
        with self.store.lock:
            obj = self.store.objects[res.gr].get((ns or "", name))
        if obj is None:
            raise not_found(res, name)
        return obj

    def namespace_exists(self, ns):
        return ("", ns) in self.store.objects[("", "namespaces")]

    def scale_of(self, res, obj):
        md = obj["metadata"]
        spec_path, status_path, selector_path = res.scale
        selector = k8sutil.get_path(obj, selector_path) if selector_path else None
        if selector is None and res.builtin:
            ml = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            selector = ",".join("%s=%s" % kv for kv in sorted(ml.items()))
        out_md = {"name": md["name"]}
        if md.get("namespace"):
            out_md["namespace"] = md["namespace"]
        for f in ("uid", "resourceVersion", "creationTimestamp"):
            if f in md:
                out_md[f] = md[f]
        st = {"replicas": k8sutil.get_path(obj, status_path) or 0}
        if selector:
            st["selector"] = selector
        return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": out_md,
                "spec": {"replicas": k8sutil.get_path(obj, spec_path) or 0}, "status": st}

    def convert_out(self, res, obj):
        """Returns obj as served in res's version (CRDs: only apiVersion differs)."""
        if obj.get("apiVersion") == res.api_version:
            return obj
        out = dict(obj)
        out["apiVersion"] = res.api_version
        return k8sutil.convert_builtin(res, out)

    # ---- list ----------------------------------------------------------------------------

    def list(self, res, ns, query, table=None):
        label_sel = k8sutil.parse_label_selector(query.get("labelSelector", ""))
        field_sel = k8sutil.parse_field_selector(query.get("fieldSelector", ""), res)
        limit = int(query.get("limit", "0") or 0)
        cont = query.get("continue", "")
        rv_param = query.get("resourceVersion", "")
        rv_match = query.get("resourceVersionMatch", "")
        start_after = None
        if rv_param not in ("", "0") and not cont:
            try:
                wanted = int(rv_param)
            except ValueError:
                raise bad_request("invalid resource version: %s" % rv_param)
            self._wait_for_rv(wanted)
        with self.store.lock:
            current = self.store.rv
            if cont:
                try:
                    tok = json.loads(base64.b64decode(cont))
                    list_rv = int(tok["rv"])
                    start_after = tuple(tok["start"])
                except Exception:
                    raise bad_request("continue key is not valid: incorrect encoded start "
                                      "resourceVersion (version meta.k8s.io/v1)")
                if list_rv < self.store.history_floor or list_rv <= self.store.expired_at:
                    raise expired(
                        "The provided continue parameter is too old to display a consistent list "
                        "result. You can start a new list without the continue parameter, or use "
                        "the continue token in this response to retrieve the remainder of the "
                        "results. Continuing with the provided token results in an inconsistent "
                        "list - objects that were created, modified, or deleted between the time "
                        "the first chunk was returned and now may show up in the list.")
                table_objs = self.store.snapshot_at(res.gr, list_rv)
                keys = sorted(table_objs.keys())
            elif rv_param not in ("", "0") and rv_match == "Exact":
                list_rv = int(rv_param)
                if list_rv < self.store.history_floor:
                    raise expired("too old resource version: %d (%d)"
                                  % (list_rv, self.store.history_floor))
                table_objs = self.store.snapshot_at(res.gr, list_rv)
                keys = sorted(table_objs.keys())
            else:
                list_rv = current
                table_objs = self.store.objects[res.gr]
                keys = self.store.keys(res.gr)
            if ns:
                lo = bisect.bisect_left(keys, (ns, ""))
                hi = bisect.bisect_left(keys, (ns + "\x00", ""))
                keys = keys[lo:hi]
            if start_after is not None:
                keys = keys[bisect.bisect_right(keys, start_after):]
            items = []
            next_key = None
            last_key = None
            remaining = 0
            for i, key in enumerate(keys):
                obj = table_objs.get(key)
                if obj is None or not label_sel.matches(obj) or not field_sel.matches(obj):
                    continue
                if limit and len(items) >= limit:
                    next_key = last_key
                    if label_sel.empty and field_sel.empty:
                        remaining = len(keys) - i
                    else:
                        remaining = sum(1 for k in keys[i:] if label_sel.matches(table_objs[k])
                                        and field_sel.matches(table_objs[k]))
                    break
                items.append(obj)
                last_key = key
        meta = {"resourceVersion": str(list_rv)}
        if next_key is not None:
            meta["continue"] = base64.b64encode(json.dumps(
                {"rv": list_rv, "start": list(next_key)}).encode()).decode()
            meta["remainingItemCount"] = remaining
        items = [self.convert_out(res, o) for o in items]
        return {"kind": res.list_kind, "apiVersion": res.api_version, "metadata": meta,
                "items": items}

    def encode_list(self, lst, gr):
        """JSON bytes of a list, reusing the cached encoding of each stored item."""
        head = json.dumps({k: v for k, v in lst.items() if k != "items"},
                          separators=(",", ":")).encode()
        table = self.store.objects.get(gr, {})
        parts = []
        for o in lst["items"]:
            md = o["metadata"]
            live = table.get((md.get("namespace", ""), md["name"]))
            parts.append(self.store.encode(o, cache=live is o))
        return head[:-1] + b',"items":[' + b",".join(parts) + b"]}\n"

    def _wait_for_rv(self, wanted):
        """Like the watch cache: a read at a resourceVersion the server has not reached yet
        waits up to 3 s, then fails with 504 ResourceVersionTooLarge."""
        deadline = time.monotonic() + 3.0
        while self.store.rv < wanted:
            if time.monotonic() >= deadline:
                raise ApiError(504, status(
                    504, "Timeout", "Too large resource version: %d, current: %d"
                    % (wanted, self.store.rv),
                    {"causes": [{"reason": "ResourceVersionTooLarge",
                                 "message": "Too large resource version"}],
                     "retryAfterSeconds": 1}))
            time.sleep(0.05)

    # ---- writes --------------------------------------------------------------------------

    def _check_body(self, res, obj, ns, name=None):
        if not isinstance(obj, dict):
            raise bad_request("the body of the request was in an unknown format")
        kind = obj.get("kind")
        if kind and kind != res.kind:
            raise bad_request("the API version in the data (%s) does not match the expected API "
                              "version (%s)" % (obj.get("apiVersion"), res.api_version)
                              if obj.get("apiVersion") != res.api_version else
                              "Object kind %s does not match the expected kind %s"
                              % (kind, res.kind))
        obj["kind"] = res.kind
        obj["apiVersion"] = res.api_version
        md = obj.get("metadata")
        if md is None:
            md = obj["metadata"] = {}
        if not isinstance(md, dict):
            raise bad_request("metadata must be an object")
        if res.namespaced:
            body_ns = md.get("namespace")
            if body_ns and ns and body_ns != ns:
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if name is not None:
            body_name = md.get("name")
            if body_name and body_name != name:
                raise bad_request("the name of the object (%s) does not match the name on the URL "
                                  "(%s)" % (body_name, name))
            md["name"] = name
        return obj

    def _validate_meta(self, res, obj):
        md = obj["metadata"]
        name = md.get("name", "")
        causes = []
        if res.group == "" and res.plural == "namespaces" or res.plural in ("services",):
            pattern, msg = DNS1123_LABEL, LABEL_MSG
        else:
            pattern, msg = DNS1123_SUBDOMAIN, SUBDOMAIN_MSG
        if len(name) > 253 or not pattern.match(name):
            causes.append(("FieldValueInvalid", "metadata.name",
                           'Invalid value: "%s": %s' % (name, msg)))
        for fld in ("labels", "annotations"):
            val = md.get(fld)
            if val is None:
                continue
            if not isinstance(val, dict):
                raise bad_request("metadata.%s must be a map of strings" % fld)
            for k, v in val.items():
                if not isinstance(v, str):
                    raise bad_request("%s cannot be handled as a %s: json: cannot unmarshal %s "
                                      "into Go struct field ObjectMeta.metadata.%s of type string"
                                      % (res.kind, res.kind, type(v).__name__, fld))
                if fld == "labels":
                    err = k8sutil.validate_label_value(v)
                    if err:
                        causes.append(("FieldValueInvalid", "metadata.labels",
                                       'Invalid value: "%s": %s' % (v, err)))
                err = k8sutil.validate_qualified_name(k)
                if err:
                    causes.append(("FieldValueInvalid", "metadata.%s" % fld,
                                   'Invalid value: "%s": %s' % (k, err)))
        return causes

    def _prepare_and_validate(self, res, obj, old, query, subresource=None):
        """Defaulting, pruning, validation for a create (old None) or update. Returns warnings."""
        warnings = []
        causes = []
        if old is None:
            causes += self._validate_meta(res, obj)
        if res.builtin:
            causes += k8sutil.builtin_defaults_and_validate(res, obj, old)
        else:
            schema = res.schema
            if schema is not None:
                validation = query.get("fieldValidation", "Warn") or "Warn"
                unknown = k8sutil.prune(obj, schema)
                if unknown:
                    if validation == "Strict":
                        fields = ", ".join('unknown field "%s"' % u for u in unknown)
                        raise bad_request("%s in version \"%s\" cannot be handled as a %s: strict "
                                          "decoding error: %s" % (res.kind, res.version, res.kind,
                                                                  fields))
                    if validation == "Warn":
                        warnings += ['unknown field "%s"' % u for u in unknown]
                k8sutil.apply_defaults(obj, schema)
                causes += k8sutil.validate_schema(obj, schema, old)
        if causes:
            raise invalid(res, obj["metadata"].get("name", ""), causes)
        return warnings

    def create(self, res, ns, body, query, user_agent):
        obj = self._check_body(res, body, ns)
        md = obj["metadata"]
        if res.namespaced and not ns:
            raise resource_not_found()
        with self.store.lock:
            if not md.get("name"):
                gen = md.get("generateName")
                if not gen:
                    raise invalid(res, "", [("FieldValueRequired", "metadata.name",
                                             "Required value: name or generateName is required")])
                md["name"] = gen + "".join(random.choice(GENERATE_ALPHABET) for _ in range(5))
            name = md["name"]
            for f in ("resourceVersion", "uid", "selfLink", "creationTimestamp",
                      "deletionTimestamp", "deletionGracePeriodSeconds"):
                md.pop(f, None)
            if res.namespaced and not self.namespace_exists(ns):
                raise ApiError(404, status(404, "NotFound", 'namespaces "%s" not found' % ns,
                                           {"name": ns, "kind": "namespaces"}))
            if (ns or "", name) in self.store.objects[res.gr]:
                raise already_exists(res, name)
            if res.status and not res.builtin:
                obj.pop("status", None)
            warnings = self._prepare_and_validate(res, obj, None, query)
            self._stamp_new(res, obj, None)
            warnings += self._admit(res, "CREATE", ns, name, obj, None, None, query)
            manager = k8sutil.manager_name(query, user_agent)
            k8sutil.set_managed_fields_update(res, obj, None, manager, None)
            if res.crd_name is None and res.gr == ("apiextensions.k8s.io",
                                                   "customresourcedefinitions"):
                k8sutil.crd_prepare(obj)
            return self._store_new(res, ns, name, obj, query, warnings)

    def _store_new(self, res, ns, name, obj, query, warnings):
        """Stores a new object (unless dryRun), under the store's lock; answers it as served."""
        stored = self._to_storage(res, obj)
        if query.get("dryRun"):
            return self.convert_out(res, stored), warnings
        stored["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.commit("ADDED", res.gr, ns, name, stored, None)
        self._after_write(res, stored, None)
        return self.convert_out(res, stored), warnings

    def _to_storage(self, res, obj):
        if res.served_gr != res.gr:
            return k8sutil.convert_builtin_to_storage(res, obj)
        if res.version != res.storage_version:
            obj = dict(obj)
            obj["apiVersion"] = res.group + "/" + res.storage_version
        return obj

    def _after_write(self, res, obj, old):
        """Side effects of writes (lock held): CRD registration, namespace cleanup."""
        if res.gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
            self.store.registry.remove_crd(obj["metadata"]["name"])
            if obj is not None and "deletionTimestamp" not in obj["metadata"]:
                for r in k8sutil.crd_resources(obj, Resource):
                    self.store.registry.add(r)

    def update(self, res, ns, name, body, query, user_agent, subresource=None, patch_type=None):
        obj = self._check_body(res, body, ns, name)
        with self.store.lock:
            old = self.store.objects[res.gr].get((ns or "", name))
            if old is None:
                raise not_found(res, name)
            return self._update_locked(res, ns, name, obj, old, query, user_agent, subresource)

    def _update_locked(self, res, ns, name, obj, old, query, user_agent, subresource,
                       apply_manager=None, managed=None):
        md = obj["metadata"]
        rv = md.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(res, name)
        old_out = self.convert_out(res, old)
        if subresource == "status":
            new = copy.deepcopy(old_out)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
        else:
            new = obj
            if res.status and not (res.builtin and res.plural == "namespaces"):
                if "status" in old_out:
                    new["status"] = copy.deepcopy(old_out["status"])
                else:
                    new.pop("status", None)
            omd = old["metadata"]
            for f in ("uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds"):
                if f in omd:
                    md[f] = omd[f]
                else:
                    md.pop(f, None)
            if "deletionTimestamp" in omd:
                added = [f for f in md.get("finalizers") or []
                         if f not in (omd.get("finalizers") or [])]
                if added:
                    raise invalid(res, name, [(
                        "FieldValueForbidden", "metadata.finalizers",
                        "Forbidden: no new finalizers can be added if the object is being "
                        "deleted, found new finalizers []string{%s}"
                        % ", ".join(json.dumps(f) for f in added))])
        new["metadata"]["generation"] = old["metadata"].get("generation")
        if new["metadata"]["generation"] is None:
            new["metadata"].pop("generation")
        warnings = self._prepare_and_validate(res, new, old_out, query, subresource)
        if self._has_generation(res) and subresource is None and k8sutil.spec_changed(old_out,
                                                                                          new):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        if res.gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
            k8sutil.crd_prepare(new)
        manager = apply_manager or k8sutil.manager_name(query, user_agent)
        if managed is not None:
            new["metadata"]["managedFields"] = managed
        else:
            k8sutil.set_managed_fields_update(res, new, old_out, manager, subresource)
        warnings += self._admit(res, "UPDATE", ns, name, new, old_out, subresource, query)
        if k8sutil.same_object(old_out, new):
            return old_out, warnings
        stored = self._to_storage(res, new)
        if query.get("dryRun"):
            stored["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return self.convert_out(res, stored), warnings
        if "deletionTimestamp" in stored["metadata"] and not stored["metadata"].get("finalizers"):
            stored["metadata"]["resourceVersion"] = str(self.store.next_rv())
            self.store.commit("DELETED", res.gr, ns, name, stored, old)
            self._after_delete(res, stored)
            return self.convert_out(res, stored), warnings
        stored["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.commit("MODIFIED", res.gr, ns, name, stored, old)
        self._after_write(res, stored, old)
        return self.convert_out(res, stored), warnings

    def patch(self, res, ns, name, body_bytes, content_type, query, user_agent, subresource=None):
        ctype = content_type.split(";")[0].strip().lower()
        if ctype == "application/apply-patch+yaml":
            return self.apply(res, ns, name, body_bytes, query, user_agent, subresource)
        if ctype not in ("application/merge-patch+json", "application/json-patch+json",
                         "application/strategic-merge-patch+json"):
            raise ApiError(415, status(415, "UnsupportedMediaType",
                                       "the body of the request was in an unknown format - "
                                       "accepted media types include: application/json-patch+json"
                                       ", application/merge-patch+json, application/apply-patch+"
                                       "yaml, application/strategic-merge-patch+json"))
        if ctype == "application/strategic-merge-patch+json" and not res.builtin:
            raise ApiError(415, status(415, "UnsupportedMediaType",
                                       "the body of the request was in an unknown format - "
                                       "accepted media types include: application/json-patch+json"
                                       ", application/merge-patch+json, application/apply-patch+"
                                       "yaml"))
        try:
            patch = json.loads(body_bytes or b"null")
        except ValueError as e:
            raise bad_request("error decoding patch: %s" % e)
        with self.store.lock:
            old = self.store.objects[res.gr].get((ns or "", name))
            if old is None:
                raise not_found(res, name)
            current = copy.deepcopy(self.convert_out(res, old))
            try:
                if ctype == "application/merge-patch+json":
                    if not isinstance(patch, dict):
                        raise k8sutil.PatchError("json: cannot unmarshal %s into Go value of type "
                                                 "map[string]interface {}" % type(patch).__name__)
                    patched = k8sutil.merge_patch(current, patch)
                elif ctype == "application/json-patch+json":
                    patched = k8sutil.json_patch(current, patch)
                else:
                    patched = k8sutil.strategic_merge_patch(current, patch, res)
            except k8sutil.PatchError as e:
                raise ApiError(422, status(422, "Invalid",
                                           "the server rejected our request due to an error in our "
                                           "request", {"causes": [{"message": str(e)}]})
                               if ctype == "application/json-patch+json" else
                               status(400, "BadRequest", str(e)))
            if not isinstance(patched, dict):
                raise bad_request("patched object is not an object")
            obj = self._check_body(res, patched, ns, name)
            if obj["metadata"].get("resourceVersion") == old["metadata"]["resourceVersion"]:
                obj["metadata"].pop("resourceVersion")
            obj, warnings = self._update_locked(res, ns, name, obj, old, query, user_agent,
                                                subresource)
            return obj, warnings, False

    def apply(self, res, ns, name, body_bytes, query, user_agent, subresource=None):
        manager = query.get("fieldManager")
        if not manager:
            raise bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
                              "value: is required for apply patch")
        try:
            applied = yaml.safe_load(body_bytes.decode() if body_bytes else "")
        except Exception as e:
            raise bad_request("error decoding YAML: %s" % e)
        if not isinstance(applied, dict):
            raise bad_request("error decoding YAML: the applied object is not an object")
        if applied.get("apiVersion") != res.api_version or applied.get("kind") != res.kind:
            if not applied.get("apiVersion") or not applied.get("kind"):
                raise bad_request("invalid object type: /, Kind=")
        applied = self._check_body(res, applied, ns, name)
        force = query.get("force", "") in ("true", "1")
        with self.store.lock:
            old = self.store.objects[res.gr].get((ns or "", name))
            if old is None:
                if subresource:
                    raise not_found(res, name)
                obj = copy.deepcopy(applied)
                obj["metadata"].pop("managedFields", None)
                obj, warnings = self._create_applied(res, ns, obj, query, manager)
                return obj, warnings, True
            current = self.convert_out(res, old)
            merged, managed = k8sutil.server_side_apply(res, current, applied, manager, force,
                                                        subresource)
            merged = self._check_body(res, merged, ns, name)
            if merged["metadata"].get("resourceVersion") == old["metadata"]["resourceVersion"]:
                merged["metadata"].pop("resourceVersion", None)
            obj, warnings = self._update_locked(res, ns, name, merged, old, query, user_agent,
                                                subresource, apply_manager=manager,
                                                managed=managed)
            return obj, warnings, False

    def _create_applied(self, res, ns, obj, query, manager):
        md = obj["metadata"]
        name = md["name"]
        md.pop("resourceVersion", None)
        if res.namespaced and not self.namespace_exists(ns):
            raise ApiError(404, status(404, "NotFound", 'namespaces "%s" not found' % ns,
                                       {"name": ns, "kind": "namespaces"}))
        if res.status and not res.builtin:
            obj.pop("status", None)
        applied_copy = copy.deepcopy(obj)
        warnings = self._prepare_and_validate(res, obj, None, query)
        self._stamp_new(res, obj, manager)
        warnings += self._admit(res, "CREATE", ns, name, obj, None, None, query)
        if res.gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
            k8sutil.crd_prepare(obj)
        obj["metadata"]["managedFields"] = [k8sutil.managed_entry(
            manager, "Apply", res.api_version, k8sutil.field_set(applied_copy, res), None)]
        return self._store_new(res, ns, name, obj, query, warnings)

    def delete(self, res, ns, name, body, query):
        with self.store.lock:
            old = self.store.objects[res.gr].get((ns or "", name))
            if old is None:
                raise not_found(res, name)
            pre = (body or {}).get("preconditions") or {}
            failed = None
            if pre.get("uid") and pre["uid"] != old["metadata"].get("uid"):
                failed = "UID in precondition: %s, UID in object meta: %s" % (
                    pre["uid"], old["metadata"].get("uid"))
            elif pre.get("resourceVersion") and pre["resourceVersion"] != \
                    old["metadata"]["resourceVersion"]:
                failed = ("ResourceVersion in precondition: %s, ResourceVersion in object meta: %s"
                          % (pre["resourceVersion"], old["metadata"]["resourceVersion"]))
            if failed:
                # The real server's wording: etcd3's InvalidObj StorageError wrapped in a Conflict.
                # The key is /registry/[group/]resource/[namespace/]name (a few built-ins use
                # other etcd prefixes; nothing here depends on it).
                key = "/registry/" + "/".join(
                    part for part in (res.gr[0], res.gr[1], ns or "", name) if part)
                raise ApiError(409, status(409, "Conflict",
                                           'Operation cannot be fulfilled on %s "%s": StorageError: '
                                           'invalid object, Code: 4, Key: %s, ResourceVersion: 0, '
                                           'AdditionalErrorMsg: Precondition failed: %s'
                                           % (res.qualified, name, key, failed), res.details(name)))
            dry = bool(query.get("dryRun"))
            self._admit(res, "DELETE", ns, name, None, self.convert_out(res, old), None, query)
            finalizers = old["metadata"].get("finalizers") or []
            if res.gr == ("", "namespaces"):
                finalizers = []
            if finalizers:
                if "deletionTimestamp" in old["metadata"]:
                    return 200, self.convert_out(res, old)
                new = copy.deepcopy(old)
                new["metadata"]["deletionTimestamp"] = now_rfc3339()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                if dry:
                    return 200, self.convert_out(res, new)
                new["metadata"]["resourceVersion"] = str(self.store.next_rv())
                self.store.commit("MODIFIED", res.gr, ns, name, new, old)
                return 200, self.convert_out(res, new)
            if dry:
                if not self._returns_deleted_object(res):
                    return 200, self._success_status(res, old)
                return 200, self.convert_out(res, old)
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = str(self.store.next_rv())
            self.store.commit("DELETED", res.gr, ns, name, gone, old)
            self._after_delete(res, gone)
            out = self.convert_out(res, gone)
            if not self._returns_deleted_object(res):
                return 200, self._success_status(res, gone)
            if res.gr == ("", "namespaces"):
                out = copy.deepcopy(out)
                out["status"] = {"phase": "Terminating"}
                out["metadata"]["deletionTimestamp"] = now_rfc3339()
            return 200, out

    def _after_delete(self, res, obj):
        """Cascades (lock held): namespace contents, CRD instances and registration."""
        if res.gr == ("", "namespaces"):
            ns = obj["metadata"]["name"]
            for gr, table in list(self.store.objects.items()):
                for key in [k for k in table if k[0] == ns]:
                    prev = table[key]
                    gone = copy.deepcopy(prev)
                    gone["metadata"]["resourceVersion"] = str(self.store.next_rv())
                    self.store.commit("DELETED", gr, ns, key[1], gone, prev)
        elif res.gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
            crd = obj
            gr = (crd["spec"]["group"], crd["spec"]["names"]["plural"])
            table = self.store.objects.get(gr, {})
            for key in list(table):
                prev = table[key]
                gone = copy.deepcopy(prev)
                gone["metadata"]["resourceVersion"] = str(self.store.next_rv())
                self.store.commit("DELETED", gr, key[0], key[1], gone, prev)
            self.store.registry.remove_crd(crd["metadata"]["name"])
            # The real server stops the resource's watch cache: open watches end cleanly.
            for w in list(self.store.watchers.get(gr, ())):
                w.end()

    def delete_collection(self, res, ns, query, body):
        label_sel = k8sutil.parse_label_selector(query.get("labelSelector", ""))
        field_sel = k8sutil.parse_field_selector(query.get("fieldSelector", ""), res)
        items = []
        with self.store.lock:
            for key in list(self.store.keys(res.gr)):
                if ns and key[0] != ns:
                    continue
                obj = self.store.objects[res.gr].get(key)
                if obj is None or not label_sel.matches(obj) or not field_sel.matches(obj):
                    continue
                _, out = self.delete(res, key[0], key[1], body, query)
                items.append(out)
            rv = self.store.rv
        return {"kind": res.list_kind, "apiVersion": res.api_version,
                "metadata": {"resourceVersion": str(rv)}, "items": items}


# --------------------------------------------------------------------------------------------
# Admin state (faults and request log)


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency_ms = 0
        self.fail = []  # [{count, code, retryAfterSeconds, pathPrefix}]
        self.hold = []  # [{count, seconds, method, pathPrefix, userAgentPrefix}]
        self.requests = []

    def take_hold(self, method, path, user_agent):
        with self.lock:
            for h in self.hold:
                if (h["count"] > 0 and (not h["method"] or h["method"] == method)
                        and path.startswith(h["pathPrefix"])
                        and user_agent.startswith(h["userAgentPrefix"])):
                    h["count"] -= 1
                    if h["count"] == 0:
                        self.hold.remove(h)
                    return h["seconds"]
        return 0

    def take_failure(self, path):
        with self.lock:
            for f in self.fail:
                if f["count"] > 0 and path.startswith(f.get("pathPrefix") or ""):
                    f["count"] -= 1
                    if f["count"] == 0:
                        self.fail.remove(f)
                    return dict(f)
        return None

    def log(self, entry):
        with self.lock:
            self.requests.append(entry)
            if len(self.requests) > 100000:
                del self.requests[:50000]


FAILURE_STATUS = {
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected failure"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted, but may "
                     "still be processing the request"),
    409: ("Conflict", "Operation cannot be fulfilled: injected conflict"),
    403: ("Forbidden", "forbidden: injected failure"),
    401: ("Unauthorized", "Unauthorized"),
    404: ("NotFound", "the server could not find the requested resource"),
    410: ("Expired", "injected expiry"),
}


# --------------------------------------------------------------------------------------------
# HTTP


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-test"
    sys_version = ""

    def setup(self):
        # Headers and bodies go out in separate writes; without NODELAY, Nagle plus the
        # client's delayed ACK stall every keep-alive request by ~40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(15)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()

    def log_message(self, fmt, *args):
        if self.server.app.args.verbose:
            sys.stderr.write("apiserver: " + fmt % args + "\n")

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, OSError):
            self.close_connection = True

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    # ---- plumbing ------------------------------------------------------------------------

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_bytes(self, code, data, content_type="application/json", headers=None):
        self.send_response(code)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", content_type)
        self.send_header("X-Kubernetes-Pf-Flowschema-Uid", "00000000-0000-0000-0000-000000000001")
        self.send_header("X-Kubernetes-Pf-Prioritylevel-Uid",
                         "00000000-0000-0000-0000-000000000002")
        for k, v in (headers or {}).items():
            if isinstance(v, list):
                for item in v:
                    self.send_header(k, item)
            else:
                self.send_header(k, v)
        accept_encoding = self.headers.get("Accept-Encoding", "") if self.headers else ""
        if len(data) >= GZIP_THRESHOLD and "gzip" in accept_encoding:
            # Like the real server: gzip (level 1) large responses for clients that ask.
            data = gzip.compress(data, compresslevel=1)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(data)))
        # One write for headers and body: one TLS record train, no extra round trip.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(data)
        self.flush_headers()
        self.response_code = code

    def send_json(self, code, obj, content_type="application/json", headers=None):
        self.send_bytes(code, json.dumps(obj, separators=(",", ":")).encode() + b"\n",
                        content_type, headers)

    def authenticated(self):
        """The request's user ({username, uid, groups, extra}) or None (401)."""
        auth = self.headers.get("Authorization", "")
        app = self.server.app
        if app.args.http and not auth:
            # Like the old insecure port: kubectl never sends credentials over plain HTTP.
            return dict(ADMIN_USER)
        if auth.startswith("Bearer "):
            presented = auth[7:].strip()
            if presented == app.args.token:
                return dict(ADMIN_USER)
            with app.faults.lock:
                user = app.tokens.get(presented)
            return dict(user) if user else None
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                cert = self.connection.getpeercert()
                if cert:
                    subject = dict(x[0] for x in cert.get("subject", ()))
                    return {"username": subject.get("commonName", ""), "uid": "",
                            "groups": [subject.get("organizationName", ""),
                                       "system:authenticated"], "extra": {}}
            except ValueError:
                pass
        return None

    def dispatch(self):
        app = self.server.app
        self.response_code = 0
        self.body_bytes = None
        self.user = None
        CURRENT.user = None
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        try:
            self.body_bytes = self.read_body() if self.command in ("POST", "PUT",
                                                                   "PATCH", "DELETE") else b""
            if app.faults.latency_ms:
                time.sleep(app.faults.latency_ms / 1000.0)
            held = app.faults.take_hold(self.command, path, self.headers.get("User-Agent", ""))
            if held:
                # A hung request (slow etcd, a stuck webhook): answered and applied late.
                time.sleep(held)
            user = self.authenticated()
            if not user:
                self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
                return
            self.user = user
            CURRENT.user = user
            failure = app.faults.take_failure(path)
            if failure:
                code = failure["code"]
                reason, message = FAILURE_STATUS.get(code, ("InternalError", "injected failure"))
                details = None
                headers = {}
                if failure.get("retryAfterSeconds"):
                    details = {"retryAfterSeconds": failure["retryAfterSeconds"]}
                    headers["Retry-After"] = str(failure["retryAfterSeconds"])
                self.send_json(code, status(code, reason, message, details), headers=headers)
                return
            self.route(path, query)
        except ApiError as e:
            if not self.response_code:
                self.send_json(e.code, e.status)
        except (ConnectionError, BrokenPipeError, ssl.SSLError):
            self.close_connection = True
        except OSError:
            self.close_connection = True
        except Exception as e:  # a bug: report it the way the real server reports panics
            import traceback
            traceback.print_exc()
            if not self.response_code:
                self.send_json(500, status(500, "InternalError",
                                           "Internal error occurred: %s" % e,
                                           {"causes": [{"message": str(e)}]}))
        finally:
            app.faults.log({
                "method": self.command, "path": path, "query": url.query,
                "code": self.response_code,
                "contentType": self.headers.get("Content-Type", ""),
                "accept": self.headers.get("Accept", ""),
                "userAgent": self.headers.get("User-Agent", ""),
                "user": (self.user or {}).get("username", ""),
            })
            CURRENT.user = None

    # ---- routing -------------------------------------------------------------------------

    def route(self, path, query):
        app = self.server.app
        segs = [urllib.parse.unquote(s) for s in path.strip("/").split("/") if s != ""]
        accept = self.headers.get("Accept", "")
        if self.command == "GET":
            if path in ("/version", "/version/"):
                return self.send_json(200, VERSION_INFO)
            if path in ("/healthz", "/livez", "/readyz"):
                return self.send_bytes(200, b"ok", "text/plain; charset=utf-8")
            if segs and segs[0] == "openapi":
                return self.serve_openapi(segs, query)
        if not segs or segs[0] not in ("api", "apis"):
            if not segs and self.command == "GET":
                return self.send_json(200, {"paths": ["/api", "/api/v1", "/apis", "/healthz",
                                                      "/openapi/v2", "/openapi/v3", "/version"]})
            return self.send_bytes(404, b"404 page not found\n", "text/plain; charset=utf-8")
        if segs[0] == "api":
            if len(segs) == 1:
                return self.discovery_api(accept)
            group, version, rest = "", segs[1], segs[2:]
            if version != "v1":
                return self.send_bytes(404, b"404 page not found\n", "text/plain; charset=utf-8")
        else:
            if len(segs) == 1:
                return self.discovery_apis(accept)
            group = segs[1]
            if len(segs) == 2:
                return self.discovery_group(group)
            version, rest = segs[2], segs[3:]
        with app.api.store.lock:
            gv_resources = app.api.store.registry.in_gv(group, version)
        if not gv_resources:
            return self.send_bytes(404, b"404 page not found\n", "text/plain; charset=utf-8")
        if not rest:
            if self.command != "GET":
                raise method_not_allowed()
            return self.send_json(200, app.discovery_resource_list(group, version))
        watch = False
        if rest[0] == "watch":
            watch = True
            rest = rest[1:]
            if not rest:
                raise resource_not_found()
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in (
                "status", "finalize")):
            ns = rest[1]
            rest = rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3:
            raise resource_not_found()
        with app.api.store.lock:
            res = app.api.store.registry.get(group, version, plural)
        if res is None:
            raise resource_not_found()
        if ns is not None and not res.namespaced:
            raise resource_not_found()
        if sub is not None and not ((sub == "status" and res.status) or
                                    (sub == "scale" and res.scale)):
            raise resource_not_found()
        if query.get("watch") in ("1", "true", "True"):
            watch = True
        self.handle_resource(res, ns, name, sub, watch, query, accept)

    def handle_resource(self, res, ns, name, sub, watch, query, accept):
        api = self.server.app.api
        ua = self.headers.get("User-Agent", "")
        method = self.command
        as_table = k8sutil.wants_table(accept)
        if sub == "scale":
            return self.handle_scale(res, ns, name, query, ua)
        if method == "GET":
            if watch:
                if name is not None:
                    query = dict(query)
                    query["fieldSelector"] = ",".join(
                        [s for s in [query.get("fieldSelector", ""), "metadata.name=" + name]
                         if s])
                return self.serve_watch(res, ns, query, as_table)
            if name is None:
                lst = api.list(res, ns, query)
                if as_table:
                    return self.send_json(200, k8sutil.to_table(res, lst["items"], lst["metadata"],
                                                                query))
                return self.send_bytes(200, api.encode_list(lst, res.gr))
            obj = api.get_object(res, ns, name)
            obj = api.convert_out(res, obj)
            if as_table:
                return self.send_json(200, k8sutil.to_table(res, [obj], {
                    "resourceVersion": obj["metadata"].get("resourceVersion", "")}, query))
            return self.send_json(200, obj)
        if method == "POST":
            if name is not None:
                raise method_not_allowed()
            body = self.parse_body()
            obj, warnings = api.create(res, ns, body, query, ua)
            return self.send_json(201 if not query.get("dryRun") else 200, obj,
                                  headers=self.warning_headers(warnings))
        if method == "PUT":
            if name is None:
                raise method_not_allowed()
            body = self.parse_body()
            obj, warnings = api.update(res, ns, name, body, query, ua, sub)
            return self.send_json(200, obj, headers=self.warning_headers(warnings))
        if method == "PATCH":
            if name is None:
                raise method_not_allowed()
            ctype = self.headers.get("Content-Type", "")
            obj, warnings, created = api.patch(res, ns, name, self.body_bytes, ctype, query, ua,
                                               sub)
            return self.send_json(201 if created else 200, obj,
                                  headers=self.warning_headers(warnings))
        if method == "DELETE":
            body = None
            if self.body_bytes:
                try:
                    body = json.loads(self.body_bytes)
                except ValueError:
                    raise bad_request("invalid DeleteOptions")
            for key in ("dryRun",):
                if body and body.get(key):
                    query = dict(query)
                    query[key] = "All"
            if name is None:
                return self.send_json(200, api.delete_collection(res, ns, query, body))
            code, obj = api.delete(res, ns, name, body, query)
            return self.send_json(code, obj)
        raise method_not_allowed()

    def handle_scale(self, res, ns, name, query, ua):
        api = self.server.app.api
        if self.command == "GET":
            return self.send_json(200, api.scale_of(res, api.convert_out(
                res, api.get_object(res, ns, name))))
        if self.command not in ("PUT", "PATCH"):
            raise method_not_allowed()
        ctype = self.headers.get("Content-Type", "application/json")
        with api.store.lock:
            obj = api.convert_out(res, api.get_object(res, ns, name))
            scale = api.scale_of(res, obj)
            try:
                if self.command == "PUT":
                    new_scale = self.parse_body()
                elif ctype.startswith("application/json-patch+json"):
                    new_scale = k8sutil.json_patch(scale, json.loads(self.body_bytes))
                else:
                    new_scale = k8sutil.merge_patch(scale, json.loads(self.body_bytes))
            except (k8sutil.PatchError, ValueError) as e:
                raise bad_request(str(e))
            replicas = ((new_scale or {}).get("spec") or {}).get("replicas", 0)
            rv = ((new_scale or {}).get("metadata") or {}).get("resourceVersion")
            if rv and rv != obj["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            updated = copy.deepcopy(obj)
            k8sutil.set_path(updated, res.scale[0], replicas)
            updated["metadata"].pop("resourceVersion", None)
            out, _ = api.update(res, ns, name, updated, query, ua)
            return self.send_json(200, api.scale_of(res, out))

    def warning_headers(self, warnings):
        if not warnings:
            return None
        return {"Warning": ['299 - "%s"' % w.replace('"', '\\"') for w in warnings]}

    def parse_body(self):
        ctype = self.headers.get("Content-Type", "application/json").split(";")[0].strip()
        data = self.body_bytes or b""
        try:
            if ctype in ("application/yaml", "application/apply-patch+yaml"):
                return yaml.safe_load(data.decode())
            if ctype == "application/vnd.kubernetes.protobuf":
                try:
                    return k8sproto.decode(data)
                except (ValueError, IndexError, UnicodeDecodeError) as e:
                    raise ApiError(415, status(415, "UnsupportedMediaType", str(e)))
            if ctype and ctype != "application/json" and ctype != "*/*":
                raise ApiError(415, status(415, "UnsupportedMediaType",
                                           "the body of the request was in an unknown format - "
                                           "accepted media types include: application/json, "
                                           "application/yaml, application/vnd.kubernetes."
                                           "protobuf"))
            return json.loads(data)
        except ValueError as e:
            raise bad_request("the object provided is unrecognized: %s" % e)

    # ---- discovery -----------------------------------------------------------------------

    def _send_discovery(self, accept, legacy, plain):
        """The aggregated discovery document (of /api when legacy, else /apis) when the client
        asks for it, else `plain`."""
        if k8sutil.wants_aggregated(accept):
            return self.send_json(200, self.server.app.aggregated_discovery(legacy=legacy),
                                  "application/json;g=apidiscovery.k8s.io;v=v2;"
                                  "as=APIGroupDiscoveryList")
        return self.send_json(200, plain)

    def discovery_api(self, accept):
        address = "127.0.0.1:%d" % self.server.app.port
        return self._send_discovery(accept, True, {
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]})

    def discovery_apis(self, accept):
        return self._send_discovery(accept, False, {"kind": "APIGroupList", "apiVersion": "v1",
                                                    "groups": self.server.app.api_groups()})

    def discovery_group(self, group):
        app = self.server.app
        for g in app.api_groups():
            if g["name"] == group:
                out = {"kind": "APIGroup", "apiVersion": "v1"}
                out.update(g)
                return self.send_json(200, out)
        return self.send_bytes(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def serve_openapi(self, segs, query):
        app = self.server.app
        with app.api.store.lock:
            resources = list(app.api.store.registry.resources.values())
        if len(segs) >= 2 and segs[1] == "v3":
            if len(segs) == 2:
                return self.send_json(200, k8sutil.openapi_v3_root(resources))
            gv_path = "/".join(segs[2:])
            doc = k8sutil.openapi_v3_doc(resources, gv_path)
            if doc is None:
                return self.send_bytes(404, b"404 page not found\n", "text/plain; charset=utf-8")
            return self.send_json(200, doc, headers={"Cache-Control": "no-cache, private"})
        if len(segs) == 2 and segs[1] == "v2":
            accept = self.headers.get("Accept", "")
            if "protobuf" in accept:
                return self.send_bytes(200, k8sutil.openapi_v2_protobuf(),
                                       "application/com.github.proto-openapi.spec.v2.v1.0+"
                                       "protobuf")
            return self.send_json(200, k8sutil.openapi_v2(resources))
        return self.send_bytes(404, b"404 page not found\n", "text/plain; charset=utf-8")

    # ---- watch ---------------------------------------------------------------------------

    def serve_watch(self, res, ns, query, as_table):
        app = self.server.app
        store = app.api.store
        label_sel = k8sutil.parse_label_selector(query.get("labelSelector", ""))
        field_sel = k8sutil.parse_field_selector(query.get("fieldSelector", ""), res)
        rv_param = query.get("resourceVersion", "")
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        send_initial = query.get("sendInitialEvents") in ("true", "1")
        if send_initial and query.get("resourceVersionMatch") != "NotOlderThan":
            raise invalid_watch_params()
        try:
            timeout = float(query.get("timeoutSeconds") or 1800)
        except ValueError:
            raise bad_request("invalid timeoutSeconds")
        deadline = time.monotonic() + timeout
        watcher = Watcher(res.gr, ns)
        watcher.connection = self.connection
        initial = []
        error_status = None
        with store.lock:
            if rv_param in ("", "0") or send_initial:
                table = store.objects[res.gr]
                for key in store.keys(res.gr):
                    if ns and key[0] != ns:
                        continue
                    initial.append(("ADDED", table[key]))
                start_rv = store.rv
                if send_initial and rv_param not in ("", "0"):
                    start_rv = max(start_rv, int(rv_param))
            else:
                try:
                    start_rv = int(rv_param)
                except ValueError:
                    raise bad_request("invalid resource version: %s" % rv_param)
                if start_rv < store.history_floor:
                    error_status = status(410, "Expired", "too old resource version: %d (%d)"
                                          % (start_rv, store.history_floor))
                else:
                    for ev in store.events_since(start_rv, res.gr):
                        watcher.queue.append(ev)
            if error_status is None:
                store.watchers[res.gr].add(watcher)
                app.register_watch(watcher)
        self.send_response(200)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.response_code = 200
        self.wfile.flush()
        kind_av = (res.kind, res.api_version)
        last_rv = start_rv if error_status is None else 0

        def write_event(type_, obj, ev=None):
            if as_table and type_ in ("ADDED", "MODIFIED", "DELETED"):
                data = json.dumps(k8sutil.to_table(res, [obj], {}, query),
                                  separators=(",", ":")).encode()
            elif ev is not None and obj is ev.obj:
                # One encoding per event, shared by every watcher.
                if ev.line is None:
                    ev.line = store.encode(obj, cache=False)
                data = ev.line
            elif type_ in ("ADDED", "MODIFIED", "DELETED"):
                md = obj["metadata"]
                live = store.objects[res.gr].get((md.get("namespace", ""), md["name"]))
                data = store.encode(obj, cache=live is obj)
            else:
                data = json.dumps(obj, separators=(",", ":")).encode()
            line = b'{"type":"' + type_.encode() + b'","object":' + data + b"}\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()

        def bookmark(rv, initial_end=False):
            md = {"resourceVersion": str(rv)}
            if initial_end:
                md["annotations"] = {"k8s.io/initial-events-end": "true"}
            write_event("BOOKMARK", {"kind": kind_av[0], "apiVersion": kind_av[1], "metadata": md})

        try:
            if error_status is not None:
                write_event("ERROR", error_status)
                self.wfile.write(b"0\r\n\r\n")
                return
            for type_, obj in initial:
                if label_sel.matches(obj) and field_sel.matches(obj):
                    write_event(type_, app.api.convert_out(res, obj))
            if send_initial and bookmarks:
                bookmark(start_rv, True)
            interval = app.api.bookmark_interval
            next_bookmark = time.monotonic() + interval if (bookmarks and interval > 0) else None
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                wait_until = deadline if next_bookmark is None else min(deadline, next_bookmark)
                with watcher.cond:
                    if not watcher.queue and not watcher.dropped and not watcher.ended:
                        watcher.cond.wait(max(0.0, min(wait_until - now, IDLE_CHECK_SECONDS)))
                    if watcher.dropped:
                        raise ConnectionAbortedError("watch dropped")
                    batch = list(watcher.queue)
                    watcher.queue.clear()
                    ended = watcher.ended
                for ev in batch:
                    last_rv = ev.rv
                    if ns and ev.ns != ns:
                        continue
                    new_match = ev.type != "DELETED" and label_sel.matches(ev.obj) and \
                        field_sel.matches(ev.obj)
                    old_match = ev.prev is not None and label_sel.matches(ev.prev) and \
                        field_sel.matches(ev.prev)
                    if ev.type == "ADDED":
                        if new_match:
                            write_event("ADDED", app.api.convert_out(res, ev.obj), ev)
                    elif ev.type == "MODIFIED":
                        if new_match and old_match:
                            write_event("MODIFIED", app.api.convert_out(res, ev.obj), ev)
                        elif new_match:
                            write_event("ADDED", app.api.convert_out(res, ev.obj), ev)
                        elif old_match:
                            write_event("DELETED", app.api.convert_out(res, ev.obj), ev)
                    else:
                        if label_sel.matches(ev.obj) and field_sel.matches(ev.obj) or old_match:
                            write_event("DELETED", app.api.convert_out(res, ev.obj), ev)
                if ended:
                    break
                if not batch and client_gone(self.connection):
                    raise ConnectionResetError("watch client went away")
                if next_bookmark is not None and time.monotonic() >= next_bookmark:
                    with store.lock:
                        with watcher.cond:
                            if not watcher.queue:
                                last_rv = store.rv
                    bookmark(last_rv)
                    next_bookmark = time.monotonic() + interval
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (ConnectionError, OSError, ssl.SSLError):
            self.close_connection = True
        finally:
            with store.lock:
                store.watchers[res.gr].discard(watcher)
            app.unregister_watch(watcher)


IDLE_CHECK_SECONDS = 0.25


def client_gone(sock):
    """A watch client never sends anything, so readability means it closed (or sent a TLS
    close_notify): end the watch instead of holding it until the next event."""
    try:
        readable, _, _ = select.select([sock.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def invalid_watch_params():
    return ApiError(422, status(422, "Invalid",
                                'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                                'Forbidden: sendInitialEvents requires setting '
                                'resourceVersionMatch to NotOlderThan',
                                {"group": "meta.k8s.io", "kind": "ListOptions",
                                 "causes": [{"reason": "FieldValueForbidden",
                                             "message": "Forbidden: sendInitialEvents requires "
                                                        "setting resourceVersionMatch to "
                                                        "NotOlderThan",
                                             "field": "resourceVersionMatch"}]}))


class AdminHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        data = json.dumps(obj).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        return json.loads(data) if data.strip() else {}

    def do_GET(self):
        app = self.server.app
        if self.path == "/requests":
            with app.faults.lock:
                return self.reply(200, list(app.faults.requests))
        if self.path == "/stats":
            return self.reply(200, app.stats())
        self.reply(404, {"error": "not found"})

    def do_DELETE(self):
        app = self.server.app
        if self.path == "/requests":
            with app.faults.lock:
                app.faults.requests = []
            return self.reply(200, {})
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        app = self.server.app
        try:
            body = self.body()
        except ValueError:
            return self.reply(400, {"error": "bad json"})
        if self.path == "/drop-watches":
            return self.reply(200, {"dropped": app.drop_watches()})
        if self.path == "/expire-history":
            app.api.store.expire_history()
            return self.reply(200, {"resourceVersion": str(app.api.store.rv)})
        if self.path == "/latency":
            app.faults.latency_ms = int(body.get("ms", 0))
            return self.reply(200, {"ms": app.faults.latency_ms})
        if self.path == "/tokens":
            # A service-account token; with "pod", bound to that pod like the kubelet's
            # projected tokens (the pod-name/pod-uid extra that admission policies read).
            token = body.get("token")
            username = body.get("username")
            if not token or not username:
                return self.reply(400, {"error": "token and username are required"})
            user = {"username": username, "uid": body.get("uid", str(uuid.uuid4())),
                    "groups": list(body.get("groups") or ["system:authenticated"]),
                    "extra": {k: list(v) for k, v in (body.get("extra") or {}).items()}}
            pod = body.get("pod")
            if pod:
                user["extra"]["authentication.kubernetes.io/pod-name"] = [pod.get("name", "")]
                user["extra"]["authentication.kubernetes.io/pod-uid"] = [pod.get("uid", "")]
                if pod.get("node"):
                    user["extra"]["authentication.kubernetes.io/node-name"] = [pod["node"]]
            with app.faults.lock:
                app.tokens[token] = user
            return self.reply(200, user)
        if self.path == "/hold":
            entry = {"count": int(body.get("count", 1)), "seconds": float(body.get("seconds", 0)),
                     "method": body.get("method", ""), "pathPrefix": body.get("pathPrefix", ""),
                     "userAgentPrefix": body.get("userAgentPrefix", "")}
            with app.faults.lock:
                app.faults.hold.append(entry)
            return self.reply(200, entry)
        if self.path == "/fail":
            entry = {"count": int(body.get("count", 1)), "code": int(body.get("code", 500)),
                     "retryAfterSeconds": int(body.get("retryAfterSeconds", 0)),
                     "pathPrefix": body.get("pathPrefix", "")}
            with app.faults.lock:
                app.faults.fail.append(entry)
            return self.reply(200, entry)
        self.reply(404, {"error": "not found"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, OSError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class App:
    def __init__(self, args):
        self.args = args
        self.api = Api(args)
        self.faults = Faults()
        self.tokens = {}  # extra bearer tokens (admin POST /tokens) -> user
        self.watch_lock = threading.Lock()
        self.open_watches = set()
        self.port = 0

    def register_watch(self, w):
        with self.watch_lock:
            self.open_watches.add(w)

    def unregister_watch(self, w):
        with self.watch_lock:
            self.open_watches.discard(w)

    def drop_watches(self):
        with self.watch_lock:
            watches = list(self.open_watches)
        for w in watches:
            w.drop()
        return len(watches)

    def stats(self):
        store = self.api.store
        with store.lock:
            count = sum(len(t) for t in store.objects.values())
            rv = store.rv
            hist = len(store.history)
        with self.watch_lock:
            watches = len(self.open_watches)
        return {"openWatches": watches, "objects": count, "resourceVersion": str(rv),
                "historyEvents": hist, "historyFloor": str(store.history_floor)}

    # ---- discovery documents -------------------------------------------------------------

    def discovery_resource_list(self, group, version):
        with self.api.store.lock:
            resources = self.api.store.registry.in_gv(group, version)
        out = []
        for r in sorted(resources, key=lambda r: r.plural):
            entry = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                     "kind": r.kind, "verbs": ALL_VERBS}
            if r.short_names:
                entry["shortNames"] = r.short_names
            if r.categories:
                entry["categories"] = r.categories
            entry["storageVersionHash"] = base64.b64encode(hashlib.sha256(
                ("%s/%s/%s" % (r.group, r.storage_version, r.kind)).encode()).digest()[:8]
            ).decode()
            out.append(entry)
            if r.status:
                out.append({"name": r.plural + "/status", "singularName": "",
                            "namespaced": r.namespaced, "kind": r.kind,
                            "verbs": ["get", "patch", "update"]})
            if r.scale:
                out.append({"name": r.plural + "/scale", "singularName": "",
                            "namespaced": r.namespaced, "group": "autoscaling",
                            "version": "v1", "kind": "Scale",
                            "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": version if not group else group + "/" + version,
                "resources": out}

    def api_groups(self):
        with self.api.store.lock:
            groups = self.api.store.registry.groups()
        out = []
        for group, versions in groups:
            if group == "":
                continue
            gvs = [{"groupVersion": group + "/" + v, "version": v} for v in versions]
            out.append({"name": group, "versions": gvs, "preferredVersion": gvs[0]})
        return out

    def aggregated_discovery(self, legacy):
        with self.api.store.lock:
            groups = self.api.store.registry.groups()
            registry = self.api.store.registry
            items = []
            for group, versions in groups:
                if (group == "") != legacy:
                    continue
                vers = []
                for v in versions:
                    rs = []
                    for r in sorted(registry.in_gv(group, v), key=lambda r: r.plural):
                        entry = {"resource": r.plural,
                                 "responseKind": {"group": r.group, "version": r.version,
                                                  "kind": r.kind},
                                 "scope": "Namespaced" if r.namespaced else "Cluster",
                                 "singularResource": r.singular, "verbs": ALL_VERBS}
                        if r.short_names:
                            entry["shortNames"] = r.short_names
                        if r.categories:
                            entry["categories"] = r.categories
                        subs = []
                        if r.status:
                            subs.append({
                                "subresource": "status",
                                "responseKind": {"group": r.group, "version": r.version,
                                                 "kind": r.kind},
                                "verbs": ["get", "patch", "update"]})
                        if r.scale:
                            subs.append({
                                "subresource": "scale",
                                "responseKind": {"group": "autoscaling", "version": "v1",
                                                 "kind": "Scale"},
                                "verbs": ["get", "patch", "update"]})
                        if subs:
                            entry["subresources"] = subs
                        rs.append(entry)
                    vers.append({"version": v, "resources": rs, "freshness": "Current"})
                md = {"name": group} if group else {"creationTimestamp": None}
                items.append({"metadata": md, "versions": vers})
        return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
                "metadata": {}, "items": items}


def make_ssl_context(d):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
    ctx.load_verify_locations(os.path.join(d, "ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--admin-port", type=int, default=0)
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--history", type=int, default=1000)
    parser.add_argument("--bookmark-interval", type=float, default=60.0)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when the parent process dies (tests that crash leave no "
                             "server behind)")
    args = parser.parse_args()

    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    try:
        os.unlink(os.path.join(d, "ready"))
    except FileNotFoundError:
        pass

    app = App(args)
    server = Server(("127.0.0.1", args.port), ApiHandler, bind_and_activate=True)
    server.app = app
    app.port = server.server_address[1]
    admin = Server(("127.0.0.1", args.admin_port), AdminHandler)
    admin.app = app
    scheme = "http" if args.http else "https"
    url = "%s://127.0.0.1:%d" % (scheme, app.port)

    with open(os.path.join(d, "token"), "w") as f:
        f.write(args.token)
    if not args.http:
        generate_certs(d)
        ctx = make_ssl_context(d)
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
        ca = {"certificate-authority-data": b64file(os.path.join(d, "ca.crt"))}
        write_kubeconfig(os.path.join(d, "kubeconfig"), url, ca, {"token": args.token})
        write_kubeconfig(os.path.join(d, "kubeconfig-cert"), url, ca, {
            "client-certificate-data": b64file(os.path.join(d, "client.crt")),
            "client-key-data": b64file(os.path.join(d, "client.key"))})
    else:
        write_kubeconfig(os.path.join(d, "kubeconfig"), url, {}, {"token": args.token})

    threading.Thread(target=admin.serve_forever, daemon=True).start()

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_with_parent:
        parent = os.getppid()

        def watch_parent():
            while os.getppid() == parent:
                time.sleep(0.5)
            stop(None, None)
        threading.Thread(target=watch_parent, daemon=True).start()

    ready = {"url": url, "adminUrl": "http://127.0.0.1:%d" % admin.server_address[1],
             "pid": os.getpid()}
    tmp = os.path.join(d, "ready.tmp")
    with open(tmp, "w") as f:
        json.dump(ready, f)
    os.rename(tmp, os.path.join(d, "ready"))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        app.drop_watches()
        admin.shutdown()


if __name__ == "__main__":
    main()
