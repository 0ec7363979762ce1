"""Kubernetes API semantics used by apiserver.py that do not depend on HTTP or storage:
selectors, patch formats, server-side apply, managed fields, CRD schemas (pruning, defaulting,
validation), Table conversion and OpenAPI documents."""

import copy
import datetime
import json
import operator
import re

import k8scel


class ApiError(Exception):
    """A Status response: code and the Status object."""

    def __init__(self, code, status):
        super().__init__(status.get("message", ""))
        self.code = code
        self.status = status


class PatchError(Exception):
    pass


def status(code, reason, message, details=None):
    """A Kubernetes Status object (kind Status, status Failure) for an error response."""
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason}
    if details is not None:
        s["details"] = details
    s["code"] = code
    return s


def bad_request(message):
    return ApiError(400, status(400, "BadRequest", message))


# --------------------------------------------------------------------------------------------
# Versions

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority_key(v):
    """Kubernetes version priority: GA > beta > alpha, higher numbers first, others last."""
    m = _VERSION_RE.match(v)
    if not m:
        return (3, 0, 0, v)
    major = int(m.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor, v)


# --------------------------------------------------------------------------------------------
# Label and field selectors

_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def validate_qualified_name(key):
    """Returns an error message like the real validation, or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return "prefix part must be non-empty"
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return ("prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character")
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return ("name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
                "'123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
    return None


def validate_label_value(v):
    if v == "":
        return None
    if len(v) > 63:
        return "must be no more than 63 characters"
    if not _QUALIFIED_NAME.match(v):
        return ("a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
    return None


class LabelSelector:
    """Parsed labelSelector: requirements (key, op, values) ANDed."""

    def __init__(self, reqs):
        self.reqs = reqs
        self.empty = not reqs

    def matches(self, obj):
        if not self.reqs:
            return True
        labels = (obj.get("metadata") or {}).get("labels") or {}
        for key, op, values in self.reqs:
            has = key in labels
            val = labels.get(key)
            if op in ("=", "=="):
                if not has or val != values[0]:
                    return False
            elif op == "!=":
                if has and val == values[0]:
                    return False
            elif op == "in":
                if not has or val not in values:
                    return False
            elif op == "notin":
                if has and val in values:
                    return False
            elif op == "exists":
                if not has:
                    return False
            elif op == "!":
                if has:
                    return False
            elif op in ("gt", "lt"):
                try:
                    n = int(val)
                except (TypeError, ValueError):
                    return False
                if (op == "gt" and not n > int(values[0])) or (op == "lt" and not n < int(
                        values[0])):
                    return False
        return True


def _split_top_level(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


_SET_RE = re.compile(r"^\s*([^\s!=<>(),]+)\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=<>(),]+)\s*(==|=|!=|>|<)\s*([^\s!=<>(),]*)\s*$")


def _selector_error(sel, detail):
    return bad_request("unable to parse requirement: %s" % detail if detail else
                       "couldn't parse the selector string \"%s\"" % sel)


def parse_label_selector(sel):
    sel = sel or ""
    if not sel.strip():
        return LabelSelector([])
    reqs = []
    for part in _split_top_level(sel):
        if not part.strip():
            raise bad_request("couldn't parse the selector string \"%s\": found '', expected: "
                              "identifier" % sel)
        m = _SET_RE.match(part)
        if m:
            values = [v.strip() for v in m.group(3).split(",")]
            values = [v for v in values if v != ""] if m.group(3).strip() else []
            if not values:
                raise bad_request("unable to parse requirement: values: Invalid value: \"\": for "
                                  "'in', 'notin' operators, values set can't be empty")
            _check_key(m.group(1))
            reqs.append((m.group(1), m.group(2), values))
            continue
        m = _EQ_RE.match(part)
        if m:
            key, op, value = m.group(1), m.group(2), m.group(3)
            _check_key(key)
            if op in (">", "<"):
                op = "gt" if op == ">" else "lt"
            else:
                err = validate_label_value(value)
                if err:
                    raise bad_request("unable to parse requirement: values[0][%s]: Invalid value: "
                                      "\"%s\": %s" % (key, value, err))
            reqs.append((key, op, [value]))
            continue
        p = part.strip()
        if p.startswith("!"):
            _check_key(p[1:].strip())
            reqs.append((p[1:].strip(), "!", []))
            continue
        if re.match(r"^[^\s!=<>(),]+$", p):
            _check_key(p)
            reqs.append((p, "exists", []))
            continue
        raise bad_request("unable to parse requirement: found '%s', expected: in, notin, =, ==, "
                          "!=, gt, lt" % p)
    return LabelSelector(reqs)


def _check_key(key):
    err = validate_qualified_name(key)
    if err:
        raise bad_request("unable to parse requirement: key: Invalid value: \"%s\": %s"
                          % (key, err))


# Field selectors the real server supports per resource (besides metadata.name/namespace).
FIELD_LABELS = {
    ("", "pods"): ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                   "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
                   "status.podIPs", "status.nominatedNodeName"],
    ("", "events"): ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                     "involvedObject.uid", "involvedObject.apiVersion",
                     "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                     "reportingComponent", "source", "type"],
    ("events.k8s.io", "events"): ["regarding.kind", "regarding.namespace", "regarding.name",
                                  "regarding.uid", "reason", "reportingController", "type"],
    ("", "secrets"): ["type"],
    ("", "namespaces"): ["status.phase"],
    ("", "nodes"): ["spec.unschedulable"],
    ("apps", "statefulsets"): [],
    ("apps", "deployments"): [],
}


class FieldSelector:
    def __init__(self, reqs):
        self.reqs = reqs
        self.empty = not reqs

    def matches(self, obj):
        for path, op, value in self.reqs:
            actual = field_value(obj, path)
            if op == "=" and actual != value:
                return False
            if op == "!=" and actual == value:
                return False
        return True


def field_value(obj, path):
    if path == "source":
        return ((obj.get("source") or {}).get("component")) or ""
    if path == "status.podIPs":
        return ((obj.get("status") or {}).get("podIP")) or ""
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        if path == "metadata.namespace":
            return ""
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(sel, res):
    sel = sel or ""
    if not sel.strip():
        return FieldSelector([])
    allowed = ["metadata.name", "metadata.namespace"] + FIELD_LABELS.get(
        getattr(res, "served_gr", res.gr), []) + \
        list(getattr(res, "selectable_fields", []) or [])
    reqs = []
    for part in sel.split(","):
        m = re.match(r"^\s*([^!=\s]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (sel, part))
        path, op, value = m.group(1), m.group(2), m.group(3)
        if op == "==":
            op = "="
        if path not in allowed:
            raise bad_request('"%s" is not a known field selector: only "%s"'
                              % (path, '", "'.join(allowed)) if res.builtin is False else
                              "field label not supported: %s" % path)
        reqs.append((path, op, value))
    return FieldSelector(reqs)


# --------------------------------------------------------------------------------------------
# Generic object comparisons


def spec_changed(old, new):
    """Whether a write changes what metadata.generation tracks."""
    if "spec" in old or "spec" in new:
        return old.get("spec") != new.get("spec")

    def strip(o):
        return {k: v for k, v in o.items() if k not in ("metadata", "status", "apiVersion",
                                                          "kind")}
    return strip(old) != strip(new)


def same_object(old, new):
    def norm(o):
        o = dict(o)
        md = dict(o.get("metadata") or {})
        md.pop("resourceVersion", None)
        # A write that changes nothing but timestamps is a no-op (no new resourceVersion), but
        # one that changes ownership is persisted, like the real field manager.
        md["managedFields"] = [{k: v for k, v in e.items() if k != "time"}
                               for e in md.get("managedFields") or []]
        for f in ("labels", "annotations"):
            if md.get(f) == {}:
                md.pop(f)
        o["metadata"] = md
        return o
    return norm(old) == norm(new)


# --------------------------------------------------------------------------------------------
# Patches


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _unescape(token):
    return token.replace("~1", "/").replace("~0", "~")


def _parse_pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError("JSON pointer must start with '/': %s" % path)
    return [_unescape(t) for t in path[1:].split("/")]


def _resolve(doc, tokens, path):
    cur = doc
    for t in tokens:
        if isinstance(cur, dict):
            if t not in cur:
                raise PatchError("doc is missing path: \"%s\": missing value" % path)
            cur = cur[t]
        elif isinstance(cur, list):
            try:
                i = int(t)
            except ValueError:
                raise PatchError("invalid array index: %s" % t)
            if i < 0 or i >= len(cur):
                raise PatchError("unable to access invalid index: %d" % i)
            cur = cur[i]
        else:
            raise PatchError("doc is missing path: \"%s\": missing value" % path)
    return cur


def _container(doc, tokens, path):
    if not tokens:
        raise PatchError("cannot operate on the document root: %s" % path)
    return _resolve(doc, tokens[:-1], path), tokens[-1]


def _add(doc, path, value):
    tokens = _parse_pointer(path)
    if not tokens:
        return value
    parent, last = _container(doc, tokens, path)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                i = int(last)
            except ValueError:
                raise PatchError("invalid array index: %s" % last)
            if i < 0 or i > len(parent):
                raise PatchError("Unable to access invalid index: %d" % i)
            parent.insert(i, value)
    else:
        raise PatchError("doc is missing path: \"%s\": missing value" % path)
    return doc


def _remove(doc, path):
    tokens = _parse_pointer(path)
    parent, last = _container(doc, tokens, path)
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError("Unable to remove nonexistent key: %s: missing value" % last)
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            i = int(last)
        except ValueError:
            raise PatchError("invalid array index: %s" % last)
        if i < 0 or i >= len(parent):
            raise PatchError("Unable to remove invalid index: %d" % i)
        return parent.pop(i)
    raise PatchError("doc is missing path: \"%s\": missing value" % path)


def json_patch(doc, ops):
    """RFC 6902."""
    if not isinstance(ops, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError("Unexpected kind: <nil>")
        kind = op["op"]
        path = op.get("path")
        if path is None:
            raise PatchError("operation missing path")
        if kind == "add":
            if "value" not in op:
                raise PatchError("add operation does not apply: doc is missing path: %s" % path)
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            tokens = _parse_pointer(path)
            if not tokens:
                doc = copy.deepcopy(op.get("value"))
                continue
            _resolve(doc, tokens, path)
            parent, last = _container(doc, tokens, path)
            if isinstance(parent, list):
                parent[int(last)] = copy.deepcopy(op.get("value"))
            else:
                parent[last] = copy.deepcopy(op.get("value"))
        elif kind == "move":
            value = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, value)
        elif kind == "copy":
            value = copy.deepcopy(_resolve(doc, _parse_pointer(op.get("from", "")), op.get(
                "from", "")))
            doc = _add(doc, path, value)
        elif kind == "test":
            actual = _resolve(doc, _parse_pointer(path), path)
            if actual != op.get("value"):
                raise PatchError("testing value %s failed: test failed" % path)
        else:
            raise PatchError("Unexpected kind: %s" % kind)
    return doc


# Strategic-merge keys for the built-in types we serve (field name -> merge key). Lists not
# named here are replaced, like the real server does for atomic lists.
SMP_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "ports": "containerPort", "conditions": "type", "imagePullSecrets": "name",
    "ownerReferences": "uid", "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
    "readinessGates": "conditionType", "resourceClaims": "name", "subsets": None,
    "containerStatuses": "name", "initContainerStatuses": "name", "podIPs": "ip",
    "hostIPs": "ip", "tolerations": None,
}
SMP_MERGE_PRIMITIVES = {"finalizers"}


def strategic_merge_patch(target, patch, res=None, field=None):
    if not isinstance(patch, dict):
        raise PatchError("unable to find api field in struct for the patch")
    if not isinstance(target, dict):
        target = {}
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    out = dict(target)
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k.startswith("$setElementOrder/") or k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            if isinstance(out.get(name), list) and isinstance(v, list):
                out[name] = [x for x in out[name] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
            continue
        cur = out.get(k)
        if isinstance(v, dict):
            merged = strategic_merge_patch(cur if isinstance(cur, dict) else {}, v, res, k)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            out[k] = _smp_list(cur if isinstance(cur, list) else [], v, k, res)
        else:
            out[k] = copy.deepcopy(v)
    if retain is not None:
        out = {k: v for k, v in out.items() if k in retain}
    order = {k.split("/", 1)[1]: v for k, v in patch.items() if k.startswith("$setElementOrder/")}
    for name, order_list in order.items():
        key = SMP_MERGE_KEYS.get(name)
        if key and isinstance(out.get(name), list):
            wanted = [o.get(key) for o in order_list if isinstance(o, dict)]
            items = out[name]
            ordered = [i for w in wanted for i in items if isinstance(i, dict) and i.get(key) == w]
            rest = [i for i in items if i not in ordered]
            out[name] = ordered + rest
    return out


def _smp_list(cur, patch, field, res):
    key = SMP_MERGE_KEYS.get(field)
    if field in SMP_MERGE_PRIMITIVES:
        out = list(cur)
        for v in patch:
            if v not in out:
                out.append(v)
        return out
    if not key or not all(isinstance(x, dict) for x in patch):
        if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
            return [x for x in patch if not (isinstance(x, dict) and "$patch" in x)]
        return copy.deepcopy(patch)
    if any(x.get("$patch") == "replace" for x in patch):
        return [copy.deepcopy(x) for x in patch if "$patch" not in x]
    out = [copy.deepcopy(x) for x in cur]
    for item in patch:
        k = item.get(key)
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == k),
                   None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append({kk: vv for kk, vv in copy.deepcopy(item).items() if vv is not None})
        else:
            out[idx] = strategic_merge_patch(out[idx], item, res, field)
    return out


# --------------------------------------------------------------------------------------------
# Managed fields and server-side apply
#
# Field ownership is tracked as sets of paths. A path is a tuple of segments: a map key
# ("f", name), or a list item addressed by key ("k", json-of-key-fields) for associative
# lists, or by value ("v", json) for set lists. Atomic lists are leaves.

NOT_MANAGED_META = {"name", "namespace", "uid", "resourceVersion", "generation",
                    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                    "managedFields", "selfLink", "generateName"}


def manager_name(query, user_agent):
    m = query.get("fieldManager")
    if m:
        return m
    ua = user_agent or "unknown"
    return ua.split("/")[0] if "/" in ua else ua


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _list_keys_for(res, schema, field):
    """Returns ("map", [keys]) / ("set", None) / ("atomic", None) for a list field."""
    if schema is not None:
        lt = schema.get("x-kubernetes-list-type")
        if lt == "map":
            return "map", schema.get("x-kubernetes-list-map-keys") or []
        if lt == "set":
            return "set", None
        return "atomic", None
    if res is not None and not res.builtin:
        return "atomic", None
    if field in SMP_MERGE_PRIMITIVES:
        return "set", None
    key = SMP_MERGE_KEYS.get(field)
    if key:
        if field == "ports":
            return "map", ["containerPort", "protocol"]
        return "map", [key]
    return "atomic", None


def _sub_schema(schema, key):
    if schema is None:
        return None
    props = schema.get("properties")
    if props is not None and key in props:
        return props[key]
    ap = schema.get("additionalProperties")
    if isinstance(ap, dict):
        return ap
    return None


def _paths(value, res, schema, prefix, out, field=None):
    if isinstance(value, dict) and not (schema is not None and schema.get("type") not in (
            None, "object")):
        if schema is not None and schema.get("x-kubernetes-map-type") == "atomic":
            out[prefix] = value
            return
        if not value:
            out[prefix] = value
            return
        for k, v in value.items():
            _paths(v, res, _sub_schema(schema, k), prefix + (("f", k),), out, k)
        return
    if isinstance(value, list):
        kind, keys = _list_keys_for(res, schema, field)
        item_schema = schema.get("items") if schema else None
        if kind == "map" and keys and all(isinstance(x, dict) for x in value):
            for item in value:
                kv = {k: item.get(k) for k in keys if k in item}
                seg = ("k", json.dumps(kv, sort_keys=True, separators=(",", ":")))
                out[prefix + (seg,)] = None  # the item itself
                for k, v in item.items():
                    _paths(v, res, _sub_schema(item_schema, k), prefix + (seg, ("f", k)), out, k)
            return
        if kind == "set":
            for item in value:
                out[prefix + (("v", json.dumps(item, sort_keys=True, separators=(",", ":"))),)] = \
                    item
            return
        out[prefix] = value
        return
    out[prefix] = value


def field_paths(obj, res, schema=None):
    """Leaf paths of an object that field managers can own, with their values."""
    out = {}
    for k, v in obj.items():
        if k in ("apiVersion", "kind"):
            continue
        if k == "metadata" and isinstance(v, dict):
            for mk, mv in v.items():
                if mk in NOT_MANAGED_META:
                    continue
                _paths(mv, res, None, (("f", "metadata"), ("f", mk)), out, mk)
            continue
        _paths(v, res, _sub_schema(schema, k) if schema else None, (("f", k),), out, k)
    return out


def _top_schema(res):
    return getattr(res, "schema", None)


def field_set(obj, res):
    return set(field_paths(obj, res, _top_schema(res)).keys())


def fields_v1(paths):
    root = {}
    for p in sorted(paths):
        node = root
        for i, (kind, name) in enumerate(p):
            key = "%s:%s" % (kind, name)
            node = node.setdefault(key, {})
            if kind == "k" and i < len(p) - 1:
                node.setdefault(".", {})
    return root


def parse_fields_v1(fv1, prefix=()):
    out = set()
    for key, sub in (fv1 or {}).items():
        if key == ".":
            continue
        kind, _, name = key.partition(":")
        p = prefix + ((kind, name),)
        if not sub or list(sub.keys()) == ["."]:
            out.add(p)
        else:
            if kind == "k":
                out.add(p)
            out |= parse_fields_v1(sub, p)
    return out


def managed_entry(manager, operation, api_version, paths, subresource):
    e = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": _now(),
         "fieldsType": "FieldsV1", "fieldsV1": fields_v1(paths)}
    if subresource:
        e["subresource"] = subresource
    return e


def _status_filter(paths, subresource, res):
    """Main-resource writes do not own status; /status writes own only status."""
    if not getattr(res, "status", False):
        return paths
    if subresource == "status":
        return {p for p in paths if p[0] == ("f", "status")}
    return {p for p in paths if p[0] != ("f", "status")}


def _entries(obj):
    return list((obj.get("metadata") or {}).get("managedFields") or [])


def set_managed_fields_update(res, new, old, manager, subresource):
    """Update-operation ownership: the writer owns the fields it added or changed."""
    schema = _top_schema(res)
    new_paths = field_paths(new, res, schema)
    old_paths = field_paths(old, res, schema) if old is not None else {}
    changed = {p for p, v in new_paths.items() if p not in old_paths or old_paths[p] != v}
    changed = _status_filter(changed, subresource, res)
    removed = set(old_paths) - set(new_paths)
    entries = _entries(old) if old is not None else []
    sent = (new.get("metadata") or {}).get("managedFields")
    if sent is not None and old is not None and _strip_times(sent) != _strip_times(entries):
        # The client rewrote managedFields (kubectl does when migrating client-side apply to
        # server-side apply): the server takes them as the new baseline.
        entries = [dict(e) for e in sent if isinstance(e, dict)]
    result = []
    mine = None
    for e in entries:
        owned = parse_fields_v1(e.get("fieldsV1"))
        if (e.get("manager") == manager and e.get("operation") == "Update" and
                (e.get("subresource") or None) == (subresource or None)):
            mine = owned
            continue
        owned = _prune_owned(owned - changed, removed)
        if owned:
            e = dict(e)
            e["fieldsV1"] = fields_v1(owned)
            result.append(e)
    owned = _prune_owned((mine or set()) | changed, removed)
    if owned:
        result.append(managed_entry(manager, "Update", new.get("apiVersion"), owned, subresource))
    if result:
        new["metadata"]["managedFields"] = result
    else:
        new["metadata"].pop("managedFields", None)


def _strip_times(entries):
    return [{k: v for k, v in e.items() if k != "time"} for e in entries or []
            if isinstance(e, dict)]


def _prune_owned(owned, removed):
    if not removed:
        return owned
    return {p for p in owned if not any(p[:len(r)] == r for r in removed)}


def _get_path(obj, path):
    cur = obj
    for kind, name in path:
        if kind == "f":
            if not isinstance(cur, dict) or name not in cur:
                return _MISSING
            cur = cur[name]
        elif kind == "k":
            if not isinstance(cur, list):
                return _MISSING
            kv = json.loads(name)
            found = _MISSING
            for item in cur:
                if isinstance(item, dict) and all(item.get(k) == v for k, v in kv.items()):
                    found = item
                    break
            if found is _MISSING:
                return _MISSING
            cur = found
        else:
            if not isinstance(cur, list):
                return _MISSING
            v = json.loads(name)
            if v not in cur:
                return _MISSING
            cur = v
    return cur


class _Missing:
    pass


_MISSING = _Missing()


def _fmt_path(path):
    s = ""
    for kind, name in path:
        if kind == "f":
            s += "." + name
        elif kind == "k":
            kv = json.loads(name)
            s += "[" + ",".join("%s=%s" % (k, json.dumps(v)) for k, v in kv.items()) + "]"
        else:
            s += "[=%s]" % name
    return s


def _apply_merge(live, applied, res, schema, field=None):
    """Merges applied (the whole intent of one manager) into live. Maps recurse, associative
    and set lists merge by key/value, atomic lists and scalars are replaced."""
    if isinstance(applied, dict) and isinstance(live, dict) and not (
            schema is not None and schema.get("x-kubernetes-map-type") == "atomic"):
        out = dict(live)
        for k, v in applied.items():
            out[k] = _apply_merge(live.get(k), v, res, _sub_schema(schema, k), k) \
                if k in live else copy.deepcopy(v)
        return out
    if isinstance(applied, list) and isinstance(live, list):
        kind, keys = _list_keys_for(res, schema, field)
        item_schema = schema.get("items") if schema else None
        if kind == "map" and keys and all(isinstance(x, dict) for x in applied + live):
            out = [copy.deepcopy(x) for x in live]
            for item in applied:
                idx = next((i for i, x in enumerate(out)
                            if all(x.get(k) == item.get(k) for k in keys)), None)
                if idx is None:
                    out.append(copy.deepcopy(item))
                else:
                    out[idx] = _apply_merge(out[idx], item, res, item_schema)
            return out
        if kind == "set":
            out = list(live)
            for v in applied:
                if v not in out:
                    out.append(copy.deepcopy(v))
            return out
    return copy.deepcopy(applied)


def _remove_path(obj, path):
    """Removes the field at path (used when an applier stops owning it)."""
    if not path:
        return
    parent = _get_path(obj, path[:-1]) if len(path) > 1 else obj
    if parent is _MISSING:
        return
    kind, name = path[-1]
    if kind == "f" and isinstance(parent, dict):
        parent.pop(name, None)
    elif kind == "k" and isinstance(parent, list):
        kv = json.loads(name)
        parent[:] = [x for x in parent if not (isinstance(x, dict) and
                                               all(x.get(k) == v for k, v in kv.items()))]
    elif kind == "v" and isinstance(parent, list):
        v = json.loads(name)
        parent[:] = [x for x in parent if x != v]


def _clean_empty(obj, path):
    """After removals, drop maps that became empty on the way to path (except top level)."""
    for i in range(len(path) - 1, 0, -1):
        v = _get_path(obj, path[:i])
        if isinstance(v, dict) and not v and path[i - 1][0] == "f":
            _remove_path(obj, path[:i])
        else:
            break


def _print_manager(e):
    """Like the real field manager: Update managers are named with their API version."""
    s = json.dumps(e.get("manager", ""))
    if e.get("subresource"):
        s += " with subresource %s" % json.dumps(e["subresource"])
    if e.get("operation") == "Update":
        s += " using %s" % e.get("apiVersion", "")
    return s


def _apply_conflict(res, live, conflicts):
    causes = [{"type": "FieldManagerConflict", "message": "conflict with %s" % _print_manager(e),
               "field": _fmt_path(p)} for e, p in conflicts]
    if len(conflicts) == 1:
        e, p = conflicts[0]
        msg = "Apply failed with 1 conflict: conflict with %s: %s" % (_print_manager(e),
                                                                     _fmt_path(p))
    else:
        by_mgr = {}
        for e, p in conflicts:
            by_mgr.setdefault(_print_manager(e), []).append(_fmt_path(p))
        lines = []
        for mgr in sorted(by_mgr):
            lines.append("conflicts with %s:" % mgr)
            lines += ["- %s" % p for p in by_mgr[mgr]]
        msg = "Apply failed with %d conflicts: %s" % (len(conflicts), "\n".join(lines))
    details = {"name": (live.get("metadata") or {}).get("name", "")}
    if res.group:
        details["group"] = res.group
    details["kind"] = res.plural
    details["causes"] = causes
    return ApiError(409, status(409, "Conflict", msg, details))


def server_side_apply(res, live, applied, manager, force, subresource):
    """Returns (merged object, managedFields) or raises a 409 conflict ApiError."""
    schema = _top_schema(res)
    applied = copy.deepcopy(applied)
    applied.get("metadata", {}).pop("managedFields", None)
    if subresource == "status":
        applied = {k: v for k, v in applied.items() if k in ("apiVersion", "kind", "metadata",
                                                              "status")}
        applied["metadata"] = {k: v for k, v in applied.get("metadata", {}).items()
                               if k in ("name", "namespace", "resourceVersion")}
    elif getattr(res, "status", False):
        applied.pop("status", None)
    applied_paths = field_paths(applied, res, schema)
    live_paths = field_paths(live, res, schema)
    entries = _entries(live)
    conflicts = []
    others = []
    previous = set()
    for e in entries:
        owned = parse_fields_v1(e.get("fieldsV1"))
        same = (e.get("manager") == manager and e.get("operation") == "Apply" and
                (e.get("subresource") or None) == (subresource or None))
        if same:
            previous = owned
            continue
        others.append((e, owned))
        for p in applied_paths:
            if p in owned and p in live_paths and live_paths[p] != applied_paths[p]:
                conflicts.append((e, p))
    if conflicts and not force:
        raise _apply_conflict(res, live, conflicts)
    merged = copy.deepcopy(live)
    owned_by_others = set()
    new_entries = []
    for e, owned in others:
        if force:
            owned = owned - {p for (ce, p) in conflicts if ce is e}
        else:
            owned = owned - {p for p in applied_paths if p in owned and live_paths.get(p) !=
                             applied_paths[p]}
        owned_by_others |= owned
        if owned:
            e = dict(e)
            e["fieldsV1"] = fields_v1(owned)
            new_entries.append(e)
    # Fields this manager applied before but no longer does are removed unless someone else
    # owns them.
    for p in sorted(previous - set(applied_paths), key=len, reverse=True):
        if p in owned_by_others or any(o[:len(p)] == p for o in owned_by_others):
            continue
        _remove_path(merged, p)
        _clean_empty(merged, p)
    body = {k: v for k, v in applied.items() if k not in ("apiVersion", "kind")}
    md = dict(body.get("metadata") or {})
    for f in NOT_MANAGED_META:
        md.pop(f, None)
    body["metadata"] = md
    merged = _apply_merge(merged, body, res, schema)
    mine = _status_filter(set(applied_paths), subresource, res)
    new_entries.append(managed_entry(manager, "Apply", applied.get("apiVersion") or
                                     live.get("apiVersion"), mine, subresource))
    rv = (applied.get("metadata") or {}).get("resourceVersion")
    if rv:
        merged["metadata"]["resourceVersion"] = rv
    else:
        merged["metadata"].pop("resourceVersion", None)
    return merged, new_entries


# --------------------------------------------------------------------------------------------
# Built-in types: defaults and the little validation tests rely on


def _image_pull_policy(image):
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return "IfNotPresent"
    if ":" not in tail or tail.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def builtin_defaults_and_validate(res, obj, old):
    causes = []
    gr = res.gr
    if gr == ("", "pods"):
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            obj["spec"] = spec = {}
        containers = spec.get("containers")
        if not containers:
            causes.append(("FieldValueRequired", "spec.containers", "Required value"))
        else:
            for i, c in enumerate(containers):
                if not isinstance(c, dict):
                    continue
                if not c.get("name"):
                    causes.append(("FieldValueRequired", "spec.containers[%d].name" % i,
                                   "Required value"))
                if not c.get("image"):
                    causes.append(("FieldValueRequired", "spec.containers[%d].image" % i,
                                   "Required value"))
                c.setdefault("resources", {})
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
                c.setdefault("imagePullPolicy", _image_pull_policy(c.get("image") or ""))
                for p in c.get("ports") or []:
                    if isinstance(p, dict):
                        p.setdefault("protocol", "TCP")
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("securityContext", {})
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        if "serviceAccountName" not in spec:
            spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
            spec["serviceAccount"] = spec["serviceAccountName"]
        spec.setdefault("tolerations", [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300}])
        if old is None:
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif old is not None and old.get("spec") != spec:
            # Only a few pod spec fields are mutable; images and tolerations are.
            for f in ("containers",):
                o, n = (old.get("spec") or {}).get(f) or [], spec.get(f) or []
                if len(o) != len(n) or any(
                        {k: v for k, v in a.items() if k != "image"} !=
                        {k: v for k, v in b.items() if k != "image"}
                        for a, b in zip(o, n) if isinstance(a, dict) and isinstance(b, dict)):
                    causes.append(("FieldValueForbidden", "spec",
                                   "Forbidden: pod updates may not change fields other than "
                                   "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                                   "`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
                                   "additions to existing tolerations),"
                                   "`spec.terminationGracePeriodSeconds` (allow it to be set to "
                                   "1 if it was previously negative)"))
    elif gr == ("", "namespaces"):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if old is None:
            obj["status"] = {"phase": "Active"}
        md = obj["metadata"]
        labels = md.get("labels") or {}
        labels["kubernetes.io/metadata.name"] = md.get("name", "")
        md["labels"] = labels
    elif gr == ("", "services"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if "clusterIP" not in spec:
            if old is not None and (old.get("spec") or {}).get("clusterIP"):
                spec["clusterIP"] = old["spec"]["clusterIP"]
                spec["clusterIPs"] = old["spec"].get("clusterIPs", [spec["clusterIP"]])
            else:
                h = abs(hash(obj["metadata"].get("name", ""))) % 65000
                spec["clusterIP"] = "10.96.%d.%d" % (h // 254, h % 254 + 1)
                spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for p in spec.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")
                p.setdefault("targetPort", p.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})
    elif gr == ("apps", "deployments") or gr == ("apps", "statefulsets"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        if "selector" not in spec:
            causes.append(("FieldValueRequired", "spec.selector", "Required value"))
        if gr == ("apps", "statefulsets"):
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"partition": 0}})
            spec.setdefault("persistentVolumeClaimRetentionPolicy",
                            {"whenDeleted": "Retain", "whenScaled": "Retain"})
        else:
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": "25%", "maxUnavailable": "25%"}})
    elif gr == ("coordination.k8s.io", "leases"):
        obj.setdefault("spec", {})
    elif gr == ("", "secrets"):
        obj.setdefault("type", "Opaque")
        for k, v in list((obj.get("stringData") or {}).items()):
            import base64
            obj.setdefault("data", {})[k] = base64.b64encode(str(v).encode()).decode()
        obj.pop("stringData", None)
    elif gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
        causes += crd_validate(obj)
    return causes


# --------------------------------------------------------------------------------------------
# CustomResourceDefinitions


def crd_validate(crd):
    causes = []
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    plural = names.get("plural", "")
    name = crd["metadata"].get("name", "")
    if not group:
        causes.append(("FieldValueRequired", "spec.group", "Required value"))
    if not plural:
        causes.append(("FieldValueRequired", "spec.names.plural", "Required value"))
    if not names.get("kind"):
        causes.append(("FieldValueRequired", "spec.names.kind", "Required value"))
    if plural and group and name != plural + "." + group:
        causes.append(("FieldValueInvalid", "metadata.name",
                       'Invalid value: "%s": must be spec.names.plural+"."+spec.group' % name))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(("FieldValueNotSupported", "spec.scope",
                       'Unsupported value: "%s": supported values: "Cluster", "Namespaced"'
                       % spec.get("scope", "")))
    versions = spec.get("versions") or []
    if not versions:
        causes.append(("FieldValueInvalid", "spec.versions",
                       "Invalid value: null: must have exactly one version marked as storage "
                       "version"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(("FieldValueInvalid", "spec.versions",
                       "Invalid value: %s: must have exactly one version marked as storage "
                       "version" % json.dumps(versions)[:80]))
    for i, v in enumerate(versions):
        schema = ((v.get("schema") or {}).get("openAPIV3Schema"))
        if schema is None:
            causes.append(("FieldValueRequired", "spec.versions[%d].schema.openAPIV3Schema" % i,
                           "Required value: schemas are required"))
        elif schema.get("type") != "object":
            causes.append(("FieldValueInvalid",
                           "spec.versions[%d].schema.openAPIV3Schema.type" % i,
                           'Invalid value: "%s": must be object at the root'
                           % schema.get("type", "")))
    return causes


def crd_prepare(crd):
    """Defaults and status the real server (and its controllers) would set."""
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    names.setdefault("singular", (names.get("kind") or "").lower())
    names.setdefault("listKind", (names.get("kind") or "") + "List")
    spec.setdefault("conversion", {"strategy": "None"})
    accepted = {k: v for k, v in names.items()}
    storage = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
    st = crd.get("status") or {}
    stored = list(st.get("storedVersions") or [])
    for s in storage:
        if s not in stored:
            stored.append(s)
    now = _now()
    old_conds = {c.get("type"): c for c in st.get("conditions") or []}

    def cond(type_, reason, message):
        c = old_conds.get(type_)
        if c and c.get("status") == "True":
            return c
        return {"type": type_, "status": "True", "lastTransitionTime": now, "reason": reason,
                "message": message}
    crd["status"] = {
        "acceptedNames": accepted,
        "conditions": [cond("NamesAccepted", "NoConflicts", "no conflicts found"),
                       cond("Established", "InitialNamesAccepted",
                            "the initial names have been accepted")],
        "storedVersions": stored,
    }


def crd_resources(crd, resource_cls):
    spec = crd["spec"]
    names = spec["names"]
    storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), None)
    out = []
    for v in spec.get("versions") or []:
        if not v.get("served", True):
            continue
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        r = resource_cls(spec["group"], v["name"], names["plural"], names["kind"],
                         spec.get("scope") == "Namespaced", singular=names.get("singular"),
                         short_names=names.get("shortNames") or [],
                         categories=names.get("categories") or [],
                         status="status" in (v.get("subresources") or {}), builtin=False,
                         schema=schema, printer_columns=v.get("additionalPrinterColumns"),
                         storage_version=storage, crd_name=crd["metadata"]["name"],
                         selectable_fields=[f.get("jsonPath", "").lstrip(".")
                                            for f in v.get("selectableFields") or []])
        r.list_kind = names.get("listKind") or names["kind"] + "List"
        sc = (v.get("subresources") or {}).get("scale")
        if isinstance(sc, dict):
            r.scale = (sc.get("specReplicasPath", ".spec.replicas"),
                       sc.get("statusReplicasPath", ".status.replicas"),
                       sc.get("labelSelectorPath"))
        r.crd = crd
        out.append(r)
    return out


META_ORDER = ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
              "generation", "creationTimestamp", "deletionTimestamp",
              "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
              "finalizers", "managedFields"]
TOP_ORDER = ["kind", "apiVersion", "metadata", "spec", "status"]


def canonical_order(obj):
    """Reorders (in place) the top level and metadata keys into the real server's JSON order
    (Go struct order); clients must not care, but humans reading diffs do."""
    md = obj.get("metadata")
    if isinstance(md, dict):
        for k in META_ORDER + [k for k in list(md) if k not in META_ORDER]:
            if k in md:
                md[k] = md.pop(k)
    for k in TOP_ORDER + [k for k in list(obj) if k not in TOP_ORDER]:
        if k in obj:
            obj[k] = obj.pop(k)
    return obj


def get_path(obj, dotted):
    cur = obj
    for part in dotted.strip(".").split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def set_path(obj, dotted, value):
    parts = dotted.strip(".").split(".")
    cur = obj
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value


# core/v1 Event field <-> events.k8s.io/v1 Event field; the rest is shared.
EVENT_FIELDS = [("involvedObject", "regarding"), ("message", "note"),
                ("source", "deprecatedSource"), ("firstTimestamp", "deprecatedFirstTimestamp"),
                ("lastTimestamp", "deprecatedLastTimestamp"), ("count", "deprecatedCount"),
                ("reportingComponent", "reportingController")]


def _renamed(obj, renames, api_version):
    """obj with each (old, new) field of `renames` it has renamed, and `api_version`."""
    for old, new in renames:
        if old in obj:
            obj[new] = obj.pop(old)
    obj["apiVersion"] = api_version
    return obj


def convert_builtin(res, obj):
    """Serves a stored object in res's representation (events.k8s.io events are stored as
    core events). obj is a fresh copy the caller may change."""
    if getattr(res, "served_gr", None) == ("events.k8s.io", "events") and \
            obj.get("kind") == "Event":
        _renamed(obj, EVENT_FIELDS, "events.k8s.io/v1")
    return obj


def convert_builtin_to_storage(res, obj):
    return _renamed(dict(obj), [(new, core) for core, new in EVENT_FIELDS], "v1")


# --------------------------------------------------------------------------------------------
# Structural schemas: pruning, defaulting, validation


def prune(obj, schema):
    """Removes fields the schema does not know. Returns the dotted paths removed."""
    removed = []
    for k in list(obj.keys()):
        if k in ("apiVersion", "kind", "metadata"):
            continue
        props = schema.get("properties") or {}
        if k not in props and not schema.get("x-kubernetes-preserve-unknown-fields"):
            removed.append(k)
            del obj[k]
        elif k in props:
            removed += _prune_value(obj[k], props[k], k)
    md = obj.get("metadata")
    if isinstance(md, dict):
        allowed = {"name", "namespace", "generateName", "labels", "annotations", "uid",
                   "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
                   "deletionGracePeriodSeconds", "finalizers", "ownerReferences",
                   "managedFields", "selfLink"}
        for k in list(md.keys()):
            if k not in allowed:
                removed.append("metadata." + k)
                del md[k]
    return removed


def _prune_value(value, schema, path):
    removed = []
    if not isinstance(schema, dict):
        return removed
    if isinstance(value, dict):
        if schema.get("x-kubernetes-embedded-resource"):
            return removed
        props = schema.get("properties")
        ap = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        for k in list(value.keys()):
            if props is not None and k in props:
                removed += _prune_value(value[k], props[k], path + "." + k)
            elif isinstance(ap, dict):
                removed += _prune_value(value[k], ap, path + "." + k)
            elif ap is True or preserve:
                continue
            elif props is not None or (schema.get("type") == "object" and not preserve):
                removed.append(path + "." + k)
                del value[k]
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, v in enumerate(value):
                removed += _prune_value(v, items, "%s[%d]" % (path, i))
    return removed


def apply_defaults(value, schema):
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        for k, s in (schema.get("properties") or {}).items():
            if k not in value and isinstance(s, dict) and "default" in s:
                value[k] = copy.deepcopy(s["default"])
            if k in value and value[k] is not None:
                apply_defaults(value[k], s)
        ap = schema.get("additionalProperties")
        if isinstance(ap, dict):
            for k in value:
                if k not in (schema.get("properties") or {}):
                    apply_defaults(value[k], ap)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for v in value:
            apply_defaults(v, schema["items"])


def _go_repr(v):
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)
    return json.dumps(v, separators=(",", ":"))


_TYPE_NAMES = {"string": str, "boolean": bool, "object": dict, "array": list}


def _type_ok(value, t):
    if t == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    py = _TYPE_NAMES.get(t)
    return py is None or isinstance(value, py)


def validate_schema(obj, schema, old=None):
    """Returns causes [(reason, field, message)] like the real OpenAPI validator."""
    causes = []
    props = schema.get("properties") or {}
    for req in schema.get("required") or []:
        if req not in obj:
            causes.append(("FieldValueRequired", req, "Required value"))
    for k, v in obj.items():
        if k in ("apiVersion", "kind", "metadata"):
            continue
        if k in props:
            _validate(v, props[k], k, causes, old.get(k) if isinstance(old, dict) else None,
                      old is not None)
    if isinstance(schema.get("x-kubernetes-validations"), list):
        _cel(obj, schema, "", causes, old, old is not None)
    return causes


def _check_count(value, schema, kind, unit, path, causes):
    """min<kind> and max<kind> (Items, Properties) of an array or object, in kube-apiserver's
    words (its "Too many" says items for both)."""
    low, high = schema.get("min" + kind), schema.get("max" + kind)
    if low is not None and len(value) < low:
        causes.append(("FieldValueInvalid", path,
                       "Invalid value: %d: %s in body should have at least %d %s"
                       % (len(value), path, low, unit)))
    if high is not None and len(value) > high:
        causes.append(("FieldValueTooMany", path,
                       "Too many: %d: must have at most %d items" % (len(value), high)))


def _validate(value, schema, path, causes, old, is_update):
    if not isinstance(schema, dict):
        return
    if is_update and old is not None and value == old:
        # Validation ratcheting (on by default since 1.30): an unchanged value is not
        # re-validated, so an update does not fail on what it did not touch.
        return
    if value is None:
        if schema.get("nullable"):
            return
        if schema.get("type"):
            causes.append(("FieldValueTypeInvalid", path,
                           'Invalid value: "null": %s in body must be of type %s: "null"'
                           % (path, schema["type"])))
        return
    t = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        if not (isinstance(value, str) or _type_ok(value, "integer")):
            causes.append(("FieldValueTypeInvalid", path,
                           "Invalid value: %s: %s in body must be of type integer-or-string"
                           % (_go_repr(value), path)))
            return
    elif t and not _type_ok(value, t):
        actual = {str: "string", bool: "boolean", dict: "object", list: "array",
                  int: "integer", float: "number"}.get(type(value), "unknown")
        causes.append(("FieldValueTypeInvalid", path,
                       'Invalid value: "%s": %s in body must be of type %s: "%s"'
                       % (actual, path, t, actual)))
        return
    if "enum" in schema and value not in schema["enum"]:
        causes.append(("FieldValueNotSupported", path,
                       "Unsupported value: %s: supported values: %s"
                       % (_go_repr(value), ", ".join(_go_repr(e) for e in schema["enum"]))))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for bound, exclusive, word, beyond in (
                ("minimum", "exclusiveMinimum", "greater", operator.lt),
                ("maximum", "exclusiveMaximum", "less", operator.gt)):
            if bound not in schema:
                continue
            limit = schema[bound]
            excluded = bool(schema.get(exclusive))
            if beyond(value, limit) or (excluded and value == limit):
                causes.append(("FieldValueInvalid", path,
                               "Invalid value: %s: %s in body should be %s than %s%s"
                               % (_go_repr(value), path, word,
                                  "" if excluded else "or equal to ", _go_repr(limit))))
        if "multipleOf" in schema and schema["multipleOf"] and \
                value % schema["multipleOf"] != 0:
            causes.append(("FieldValueInvalid", path,
                           "Invalid value: %s: %s in body should be a multiple of %s"
                           % (_go_repr(value), path, _go_repr(schema["multipleOf"]))))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.append(("FieldValueInvalid", path,
                           "Invalid value: %s: %s in body should be at least %d chars long"
                           % (_go_repr(value), path, schema["minLength"])))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(("FieldValueTooLong", path,
                           "Too long: may not be more than %d bytes" % schema["maxLength"]))
        if "pattern" in schema:
            try:
                if not re.search(schema["pattern"], value):
                    causes.append(("FieldValueInvalid", path,
                                   "Invalid value: %s: %s in body should match '%s'"
                                   % (_go_repr(value), path, schema["pattern"])))
            except re.error:
                pass
        fmt = schema.get("format")
        if fmt and not _format_ok(value, fmt):
            causes.append(("FieldValueInvalid", path,
                           "Invalid value: %s: %s in body must be of type %s: %s"
                           % (_go_repr(value), path, fmt, _go_repr(value))))
    if isinstance(value, list):
        _check_count(value, schema, "Items", "items", path, causes)
        items = schema.get("items")
        lt = schema.get("x-kubernetes-list-type")
        if lt == "set" and len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
            seen = set()
            for i, v in enumerate(value):
                s = json.dumps(v, sort_keys=True)
                if s in seen:
                    causes.append(("FieldValueDuplicate", "%s[%d]" % (path, i),
                                   "Duplicate value: %s" % _go_repr(v)))
                seen.add(s)
        if lt == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            seen = set()
            for i, v in enumerate(value):
                if isinstance(v, dict):
                    kv = json.dumps({k: v.get(k) for k in keys}, sort_keys=True)
                    if kv in seen:
                        causes.append(("FieldValueDuplicate", "%s[%d]" % (path, i),
                                       "Duplicate value: %s" % json.dumps(
                                           {k: v.get(k) for k in keys}, separators=(",", ":"))))
                    seen.add(kv)
        if isinstance(items, dict):
            for i, v in enumerate(value):
                _validate(v, items, "%s[%d]" % (path, i), causes, None, is_update)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for req in schema.get("required") or []:
            if req not in value:
                causes.append(("FieldValueRequired", path + "." + req, "Required value"))
        _check_count(value, schema, "Properties", "properties", path, causes)
        ap = schema.get("additionalProperties")
        for k, v in value.items():
            sub_old = old.get(k) if isinstance(old, dict) else None
            if k in props:
                _validate(v, props[k], path + "." + k, causes, sub_old, is_update)
            elif isinstance(ap, dict):
                _validate(v, ap, path + "." + k, causes, sub_old, is_update)
    if isinstance(schema.get("x-kubernetes-validations"), list):
        _cel(value, schema, path, causes, old, is_update)


def _format_ok(value, fmt):
    if fmt == "date-time":
        return bool(re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:"
                             r"\d{2})$", value))
    if fmt == "date":
        return bool(re.match(r"^\d{4}-\d{2}-\d{2}$", value))
    if fmt == "ipv4":
        parts = value.split(".")
        return len(parts) == 4 and all(p.isdigit() and 0 <= int(p) <= 255 for p in parts)
    return True


def _cel(value, schema, path, causes, old, is_update):
    """x-kubernetes-validations via k8scel; rules it cannot evaluate are accepted."""
    type_name = schema.get("type") or "object"
    for v in schema.get("x-kubernetes-validations") or []:
        rule = v.get("rule", "")
        uses_old = re.search(r"\boldSelf\b", rule) is not None
        if uses_old and (not is_update or old is None):
            continue
        field = path
        if v.get("fieldPath"):
            field = (path + v["fieldPath"]) if path else v["fieldPath"].lstrip(".")
        try:
            ok = k8scel.evaluate(rule, value, old) if uses_old else \
                k8scel.evaluate(rule, value)
        except k8scel.Unsupported:
            continue
        except k8scel.CelError as e:
            causes.append(("FieldValueInvalid", field, 'Invalid value: "%s": %s evaluating rule: '
                                                      '%s' % (type_name, e, rule)))
            continue
        if ok is True:
            continue
        msg = v.get("message")
        if not msg and v.get("messageExpression"):
            try:
                m = k8scel.evaluate(v["messageExpression"], value)
                msg = m if isinstance(m, str) and m.strip() else None
            except (k8scel.Unsupported, k8scel.CelError):
                msg = None
        msg = msg or "failed rule: %s" % rule
        reason = v.get("reason") or "FieldValueInvalid"
        if reason == "FieldValueForbidden":
            causes.append((reason, field, "Forbidden: %s" % msg))
        elif reason == "FieldValueRequired":
            causes.append((reason, field, "Required value: %s" % msg))
        elif reason == "FieldValueDuplicate":
            causes.append((reason, field, 'Duplicate value: "%s": %s' % (type_name, msg)))
        else:
            causes.append(("FieldValueInvalid", field, 'Invalid value: "%s": %s'
                           % (type_name, msg)))


# --------------------------------------------------------------------------------------------
# Content negotiation and tables


def _accept_items(accept):
    out = []
    for part in (accept or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        params = {}
        for f in fields[1:]:
            k, _, v = f.partition("=")
            params[k.strip()] = v.strip()
        out.append((fields[0], params))
    return out


def wants_table(accept):
    for mime, params in _accept_items(accept):
        if mime == "application/json" and params.get("as") == "Table" and params.get(
                "g") == "meta.k8s.io":
            return True
    return False


def wants_aggregated(accept):
    for mime, params in _accept_items(accept):
        if mime == "application/json" and params.get("g") == "apidiscovery.k8s.io" and \
                params.get("v") == "v2" and params.get("as") == "APIGroupDiscoveryList":
            return True
        if mime == "application/json" and not params:
            return False
    return False


# kubectl's HumanDuration (k8s.io/apimachinery/pkg/util/duration): below each bound (seconds),
# whole units of the first size, then the rest in the second size when it is not zero.
_HUMAN_STEPS = (
    (120, (1, "s"), None),
    (10 * 60, (60, "m"), (1, "s")),
    (3 * 3600, (60, "m"), None),
    (8 * 3600, (3600, "h"), (60, "m")),
    (2 * 86400, (3600, "h"), None),
    (8 * 86400, (86400, "d"), (3600, "h")),
    (2 * 365 * 86400, (86400, "d"), None),
    (8 * 365 * 86400, (365 * 86400, "y"), (86400, "d")),
    (None, (365 * 86400, "y"), None),
)


def human_duration(seconds):
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    for below, (unit, letter), part in _HUMAN_STEPS:
        if below is None or s < below:
            text = "%d%s" % (s // unit, letter)
            if part:
                size, part_letter = part
                rest = (s // size) % (unit // size)
                if rest:
                    text += "%d%s" % (rest, part_letter)
            return text


def age(ts):
    if not ts:
        return "<unknown>"
    try:
        t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())


def jsonpath(obj, expr):
    """Evaluates the simple JSONPath used in printer columns. Returns a list of results."""
    expr = expr.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1]
    if expr.startswith("$"):
        expr = expr[1:]
    tokens = re.findall(r"\.([A-Za-z0-9_\-]+)|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*[\"']([^\"']*)"
                        r"[\"']\)\]|\[(\d+|\*)\]|\['([^']+)'\]|\.\*", expr)
    cur = [obj]
    for name, fkey, fval, index, quoted in tokens:
        nxt = []
        for c in cur:
            if name or quoted:
                key = name or quoted
                if isinstance(c, dict) and key in c:
                    nxt.append(c[key])
            elif fkey:
                if isinstance(c, list):
                    for item in c:
                        v = item
                        for part in fkey.split("."):
                            v = v.get(part) if isinstance(v, dict) else None
                        if v is not None and str(v) == fval:
                            nxt.append(item)
            elif index:
                if isinstance(c, list):
                    if index == "*":
                        nxt.extend(c)
                    elif int(index) < len(c):
                        nxt.append(c[int(index)])
            else:
                if isinstance(c, dict):
                    nxt.extend(c.values())
                elif isinstance(c, list):
                    nxt.extend(c)
        cur = nxt
    return cur


def _cell(values, col_type):
    """Like the real CRD table convertor's cellForJSONValue: a mismatched type gives nil."""
    if not values:
        return None
    v = values[0]
    if v is None:
        return None
    if col_type == "string":
        if isinstance(v, str):
            return v
        if isinstance(v, (dict, list)):
            return json.dumps(v, separators=(",", ":"))
        return _go_repr(v)
    if col_type == "integer":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return int(v)
        return None
    if col_type == "number":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        return None
    if col_type == "boolean":
        return v if isinstance(v, bool) else None
    if col_type == "date":
        if not isinstance(v, str):
            return None
        if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", v):
            return "<invalid>"
        return age(v[:19] + "Z") if v.endswith("Z") else age(v[:19] + "Z")
    return None


NAME_COL = {"name": "Name", "type": "string", "format": "name",
            "description": "Name must be unique within a namespace. Is required when creating "
                           "resources, although some resources may allow a client to request the "
                           "generation of an appropriate name automatically. Name is primarily "
                           "intended for creation idempotence and configuration definition. "
                           "Cannot be updated. More info: https://kubernetes.io/docs/concepts/"
                           "overview/working-with-objects/names#names", "priority": 0}
AGE_COL = {"name": "Age", "type": "string", "format": "",
           "description": "CreationTimestamp is a timestamp representing the server time when "
                          "this object was created. It is not guaranteed to be set in "
                          "happens-before order across separate operations. Clients may not set "
                          "this value. It is represented in RFC3339 form and is in UTC.\n\n"
                          "Populated by the system. Read-only. Null for lists. More info: "
                          "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                          "api-conventions.md#metadata", "priority": 0}


def _col(name, type_="string", priority=0, description="", fmt=""):
    return {"name": name, "type": type_, "format": fmt, "description": description,
            "priority": priority}


def _pod_row(o):
    spec = o.get("spec") or {}
    st = o.get("status") or {}
    containers = spec.get("containers") or []
    statuses = st.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    reason = st.get("reason") or st.get("phase") or ""
    for c in statuses:
        state = c.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state and state["terminated"].get("reason"):
            reason = state["terminated"]["reason"]
    if (o.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    gates = spec.get("readinessGates") or []
    gate_str = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
        gate_str = "%d/%d" % (sum(1 for g in gates if conds.get(g.get("conditionType")) ==
                                  "True"), len(gates))
    return ["%d/%d" % (ready, len(containers)), reason, restarts,
            age(o["metadata"].get("creationTimestamp")), st.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>", st.get("nominatedNodeName") or "<none>", gate_str]


def _builtin_table(res, o):
    """Returns (columns, cells) for built-in kinds; default NAME, AGE."""
    gr = getattr(res, "served_gr", res.gr)
    md = o.get("metadata") or {}
    name = md.get("name", "")
    created = age(md.get("creationTimestamp"))
    if gr == ("", "pods"):
        cols = [NAME_COL, _col("Ready", description="The aggregate readiness state of this pod "
                                                    "for accepting traffic."),
                _col("Status", description="The aggregate status of the containers in this "
                                           "pod."),
                _col("Restarts", "string", description="The number of times the containers in "
                                                       "this pod have been restarted and when "
                                                       "the last container in this pod has "
                                                       "restarted."),
                AGE_COL, _col("IP", priority=1, description="IP address assigned to the pod"),
                _col("Node", priority=1, description="Name of the node assigned to the pod"),
                _col("Nominated Node", priority=1, description="Name of the node nominated"),
                _col("Readiness Gates", priority=1, description="Pod readiness gates")]
        r = _pod_row(o)
        return cols, [name, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]
    if gr == ("", "namespaces"):
        return [NAME_COL, _col("Status", description="The status of the namespace"), AGE_COL], \
            [name, (o.get("status") or {}).get("phase", ""), created]
    if gr == ("", "configmaps"):
        n = len(o.get("data") or {}) + len(o.get("binaryData") or {})
        return [NAME_COL, _col("Data", "string"), AGE_COL], [name, n, created]
    if gr == ("", "secrets"):
        return [NAME_COL, _col("Type"), _col("Data", "string"), AGE_COL], \
            [name, o.get("type", ""), len(o.get("data") or {}), created]
    if gr == ("", "services"):
        spec = o.get("spec") or {}
        ports = ",".join("%s/%s" % (p.get("port"), p.get("protocol", "TCP"))
                         for p in spec.get("ports") or []) or "<none>"
        sel = ",".join("%s=%s" % kv for kv in (spec.get("selector") or {}).items()) or "<none>"
        return [NAME_COL, _col("Type"), _col("Cluster-IP"), _col("External-IP"),
                _col("Port(s)"), AGE_COL, _col("Selector", priority=1)], \
            [name, spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"), "<none>",
             ports, created, sel]
    if gr == ("apps", "deployments"):
        spec, st = o.get("spec") or {}, o.get("status") or {}
        return [NAME_COL, _col("Ready"), _col("Up-to-date", "integer"),
                _col("Available", "integer"), AGE_COL], \
            [name, "%d/%d" % (st.get("readyReplicas", 0), spec.get("replicas", 0)),
             st.get("updatedReplicas", 0), st.get("availableReplicas", 0), created]
    if gr == ("apps", "statefulsets"):
        spec, st = o.get("spec") or {}, o.get("status") or {}
        return [NAME_COL, _col("Ready"), AGE_COL], \
            [name, "%d/%d" % (st.get("readyReplicas", 0), spec.get("replicas", 0)), created]
    if gr == ("coordination.k8s.io", "leases"):
        return [NAME_COL, _col("Holder"), AGE_COL], \
            [name, (o.get("spec") or {}).get("holderIdentity", ""), created]
    if gr == ("discovery.k8s.io", "endpointslices"):
        ports = ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>"
        eps = [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
        shown = ",".join(eps[:3]) + ((" + %d more..." % (len(eps) - 3)) if len(eps) > 3 else "")
        return [NAME_COL, _col("AddressType"), _col("Ports"), _col("Endpoints"), AGE_COL], \
            [name, o.get("addressType", ""), ports, shown or "<unset>", created]
    if gr == ("", "endpoints"):
        eps = ["%s:%s" % (a.get("ip"), p.get("port")) for s in o.get("subsets") or []
               for a in s.get("addresses") or [] for p in (s.get("ports") or [{}])]
        return [NAME_COL, _col("Endpoints"), AGE_COL], [name, ",".join(eps) or "<none>", created]
    if gr == ("", "events"):
        inv = o.get("involvedObject") or {}
        last = o.get("lastTimestamp") or o.get("eventTime") or md.get("creationTimestamp")
        return [_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"),
                _col("Message")], \
            [age(last[:19] + "Z" if last and len(last) > 20 else last), o.get("type", ""),
             o.get("reason", ""), "%s/%s" % ((inv.get("kind") or "").lower(), inv.get("name", "")),
             o.get("message", "")]
    if gr == ("events.k8s.io", "events"):
        reg = o.get("regarding") or {}
        last = o.get("deprecatedLastTimestamp") or o.get("eventTime") or \
            md.get("creationTimestamp")
        return [_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"),
                _col("Message")], \
            [age(last[:19] + "Z" if last and len(last) > 20 else last), o.get("type", ""),
             o.get("reason", ""), "%s/%s" % ((reg.get("kind") or "").lower(), reg.get("name", "")),
             o.get("note", "")]
    if gr == ("apiextensions.k8s.io", "customresourcedefinitions"):
        return [NAME_COL, _col("Created At", "date")], [name, md.get("creationTimestamp")]
    if gr == ("", "serviceaccounts"):
        return [NAME_COL, _col("Secrets", "integer"), AGE_COL], \
            [name, len(o.get("secrets") or []), created]
    return [NAME_COL, AGE_COL], [name, created]


def table_columns_and_cells(res, o):
    if res.builtin:
        return _builtin_table(res, o)
    cols = [NAME_COL]
    md = o.get("metadata") or {}
    cells = [md.get("name", "")]
    printer = res.printer_columns
    if printer is None:
        return [NAME_COL, AGE_COL], [md.get("name", ""), age(md.get("creationTimestamp"))]
    for c in printer:
        t = c.get("type", "string")
        cols.append({"name": c.get("name", ""), "type": t, "format": c.get("format", ""),
                     "description": c.get("description", ""), "priority": c.get("priority", 0)})
        cells.append(_cell(jsonpath(o, c.get("jsonPath", "")), t))
    return cols, cells


def to_table(res, items, list_meta, query):
    include = query.get("includeObject", "Metadata")
    rows = []
    cols = None
    for o in items:
        c, cells = table_columns_and_cells(res, o)
        cols = cols or c
        row = {"cells": cells}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": o.get("metadata", {})}
        rows.append(row)
    if cols is None:
        cols, _ = table_columns_and_cells(res, {"metadata": {}})
    md = {k: v for k, v in (list_meta or {}).items() if k in ("resourceVersion", "continue",
                                                               "remainingItemCount")}
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": md,
            "columnDefinitions": cols, "rows": rows}


# --------------------------------------------------------------------------------------------
# OpenAPI


def _gv_path(res):
    return "api/v1" if res.group == "" else "apis/%s/%s" % (res.group, res.version)


def openapi_v3_root(resources):
    paths = {}
    for r in resources:
        p = _gv_path(r)
        paths[p] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (p, _gv_hash(resources, p))}
    return {"paths": dict(sorted(paths.items()))}


def _gv_hash(resources, p):
    import hashlib
    h = hashlib.sha512()
    for r in sorted(resources, key=lambda r: r.plural):
        if _gv_path(r) == p:
            h.update(json.dumps([r.plural, r.kind, r.schema, r.printer_columns],
                                sort_keys=True).encode())
    return h.hexdigest()[:128].upper()


def _def_name(res):
    if res.builtin:
        group = res.group or "core"
        pkg = {"": "io.k8s.api.core", "apps": "io.k8s.api.apps",
               "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"}
        prefix = pkg.get(res.group, "io.k8s.api." + group.split(".")[0])
        return "%s.%s.%s" % (prefix, res.version, res.kind)
    rev = ".".join(reversed(res.group.split(".")))
    return "%s.%s.%s" % (rev, res.version, res.kind)


OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"


def _object_meta_schema():
    sm = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
    return {
        "description": "ObjectMeta is metadata that all persisted resources must have, which "
                       "includes all objects users must create.",
        "type": "object",
        "properties": {
            "annotations": dict(sm, description="Annotations is an unstructured key value map "
                                                "stored with a resource."),
            "creationTimestamp": {"type": "string", "format": "date-time",
                                  "description": "CreationTimestamp is a timestamp representing "
                                                 "the server time when this object was created."},
            "deletionTimestamp": {"type": "string", "format": "date-time",
                                  "description": "DeletionTimestamp is RFC 3339 date and time at "
                                                 "which this resource will be deleted."},
            "finalizers": {"type": "array", "items": {"type": "string", "default": ""},
                           "x-kubernetes-list-type": "set",
                           "x-kubernetes-patch-strategy": "merge",
                           "description": "Must be empty before the object is deleted from the "
                                          "registry."},
            "generateName": {"type": "string", "description": "GenerateName is an optional "
                                                              "prefix."},
            "generation": {"type": "integer", "format": "int64",
                           "description": "A sequence number representing a specific generation "
                                          "of the desired state."},
            "labels": dict(sm, description="Map of string keys and values that can be used to "
                                           "organize and categorize (scope and select) objects."),
            "managedFields": {"type": "array", "items": {"type": "object"},
                              "description": "ManagedFields maps workflow-id and version to the "
                                             "set of fields that are managed by that workflow."},
            "name": {"type": "string", "description": "Name must be unique within a namespace."},
            "namespace": {"type": "string", "description": "Namespace defines the space within "
                                                           "which each name must be unique."},
            "ownerReferences": {"type": "array", "items": {"type": "object"},
                                "x-kubernetes-list-map-keys": ["uid"],
                                "x-kubernetes-list-type": "map",
                                "x-kubernetes-patch-merge-key": "uid",
                                "x-kubernetes-patch-strategy": "merge",
                                "description": "List of objects depended by this object."},
            "resourceVersion": {"type": "string", "description": "An opaque value that "
                                                                 "represents the internal version "
                                                                 "of this object."},
            "selfLink": {"type": "string", "description": "Deprecated."},
            "uid": {"type": "string", "description": "UID is the unique in time and space value "
                                                     "for this object."},
        },
    }


def _crd_component(res):
    schema = copy.deepcopy(res.schema or {"type": "object",
                                          "x-kubernetes-preserve-unknown-fields": True})
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "description": "APIVersion defines the versioned "
                                                            "schema of this representation of an "
                                                            "object. Servers should convert "
                                                            "recognized schemas to the latest "
                                                            "internal value, and may reject "
                                                            "unrecognized values. More info: "
                                                            "https://git.k8s.io/community/"
                                                            "contributors/devel/sig-architecture/"
                                                            "api-conventions.md#resources"}
    props["kind"] = {"type": "string", "description": "Kind is a string value representing the "
                                                      "REST resource this object represents. "
                                                      "Servers may infer this from the endpoint "
                                                      "the client submits requests to. Cannot be "
                                                      "updated. In CamelCase. More info: https://"
                                                      "git.k8s.io/community/contributors/devel/"
                                                      "sig-architecture/api-conventions.md#types-"
                                                      "kinds"}
    props["metadata"] = {"allOf": [{"$ref": "#/components/schemas/" + OBJECT_META}],
                         "default": {},
                         "description": "Standard object's metadata. More info: https://git.k8s."
                                        "io/community/contributors/devel/sig-architecture/"
                                        "api-conventions.md#metadata"}
    _strip_crd_only(schema)
    schema["x-kubernetes-group-version-kind"] = [{"group": res.group, "kind": res.kind,
                                                  "version": res.version}]
    return schema


def _strip_crd_only(s):
    if isinstance(s, dict):
        s.pop("x-kubernetes-validations", None)
        for v in s.values():
            _strip_crd_only(v)
    elif isinstance(s, list):
        for v in s:
            _strip_crd_only(v)


def _builtin_component(res):
    return {"description": "%s (served by the libcluster test API server; schema not modelled)"
                           % res.kind,
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string", "description": "APIVersion defines the "
                                                                "versioned schema of this "
                                                                "representation of an object."},
                "kind": {"type": "string", "description": "Kind is a string value representing "
                                                          "the REST resource this object "
                                                          "represents."},
                "metadata": {"allOf": [{"$ref": "#/components/schemas/" + OBJECT_META}],
                             "default": {}, "description": "Standard object's metadata."},
            },
            "x-kubernetes-preserve-unknown-fields": True,
            "x-kubernetes-group-version-kind": [{"group": res.group, "kind": res.kind,
                                                 "version": res.version}]}


def _param(name, where="query", description="", type_="string", unique=True):
    return {"name": name, "in": where, "description": description, "schema": {
        "type": type_, "uniqueItems": unique}}


def _operation(res, verb, action, def_ref, params, body=False, body_types=None):
    gvk = {"group": res.group, "version": res.version, "kind": res.kind}
    op = {"tags": [res.group or "core_v1"],
          "description": "%s the specified %s" % (verb, res.kind),
          "operationId": "%s%s" % (verb, res.kind),
          "parameters": params,
          "responses": {"200": {"description": "OK", "content": {
              "application/json": {"schema": {"$ref": def_ref}}}},
              "401": {"description": "Unauthorized"}},
          "x-kubernetes-action": action,
          "x-kubernetes-group-version-kind": gvk}
    if body:
        op["requestBody"] = {"content": {t: {"schema": {"$ref": def_ref}}
                                         for t in (body_types or ["*/*"])}, "required": True}
    return op


def openapi_v3_doc(resources, gv_path):
    rs = [r for r in resources if _gv_path(r) == gv_path]
    if not rs:
        return None
    schemas = {OBJECT_META: _object_meta_schema(),
               LIST_META: {"type": "object", "properties": {
                   "continue": {"type": "string"}, "remainingItemCount": {"type": "integer"},
                   "resourceVersion": {"type": "string"}}}}
    paths = {}
    common = [_param("pretty", description="If 'true', then the output is pretty printed.")]
    write_params = [
        _param("dryRun", description="When present, indicates that modifications should not be "
                                     "persisted."),
        _param("fieldManager", description="fieldManager is a name associated with the actor or "
                                           "entity that is making these changes."),
        _param("fieldValidation", description="fieldValidation instructs the server on how to "
                                              "handle objects in the request (POST/PUT/PATCH) "
                                              "containing unknown or duplicate fields."),
    ]
    patch_types = ["application/apply-patch+yaml", "application/json-patch+json",
                   "application/merge-patch+json"]
    for r in sorted(rs, key=lambda r: r.plural):
        name = _def_name(r)
        if r.builtin:
            # Built-in kinds' schemas are not modelled; without a component kubectl falls back to
            # its compiled-in types for strategic merge patches, as it does for a server whose
            # OpenAPI lacks a kind.
            pass
        else:
            schemas[name] = _crd_component(r)
        schemas[name + "List"] = {
            "type": "object", "required": ["items"],
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                           "items": {"type": "array", "items": {
                               "$ref": "#/components/schemas/" + name}},
                           "metadata": {"allOf": [{"$ref": "#/components/schemas/" + LIST_META}],
                                        "default": {}}},
            "x-kubernetes-group-version-kind": [{"group": r.group, "kind": r.list_kind,
                                                 "version": r.version}]}
        ref = "#/components/schemas/" + name
        base = "/" + gv_path + ("/namespaces/{namespace}" if r.namespaced else "") + "/" + \
            r.plural
        ns_param = [_param("namespace", "path", "object name and auth scope")] \
            if r.namespaced else []
        name_param = [_param("name", "path", "name of the %s" % r.kind)]
        ptypes = patch_types + (["application/strategic-merge-patch+json"] if r.builtin else [])
        paths[base] = {
            "parameters": ns_param + common,
            "get": _operation(r, "list", "list", "#/components/schemas/" + name + "List", []),
            "post": _operation(r, "create", "post", ref, write_params, True),
            "delete": _operation(r, "deletecollection", "deletecollection", ref, []),
        }
        item = {
            "parameters": name_param + ns_param + common,
            "get": _operation(r, "read", "get", ref, []),
            "put": _operation(r, "replace", "put", ref, write_params, True),
            "patch": _operation(r, "patch", "patch", ref, write_params + [_param(
                "force", type_="boolean")], True, ptypes),
            "delete": _operation(r, "delete", "delete", ref, [_param("dryRun")]),
        }
        paths[base + "/{name}"] = item
        if r.status:
            paths[base + "/{name}/status"] = {
                "parameters": name_param + ns_param + common,
                "get": _operation(r, "read", "get", ref, []),
                "put": _operation(r, "replace", "put", ref, write_params, True),
                "patch": _operation(r, "patch", "patch", ref, write_params, True, ptypes),
            }
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.32.4"},
            "paths": paths,
            "components": {"schemas": schemas,
                           "securitySchemes": {"BearerToken": {
                               "type": "apiKey", "description": "Bearer Token authentication",
                               "name": "authorization", "in": "header"}}},
            "security": [{"BearerToken": []}]}


def openapi_v2(resources):
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.4"},
            "paths": {}, "definitions": {}}


def _pb_string(field, value):
    data = value.encode()
    return bytes([field << 3 | 2, len(data)]) + data


def openapi_v2_protobuf():
    """A minimal gnostic openapi_v2.Document (swagger, info): valid for kubectl, which then finds
    no definitions and skips client-side validation, as it does for unknown kinds."""
    info = _pb_string(1, "Kubernetes") + _pb_string(2, "v1.32.4")
    return _pb_string(1, "2.0") + bytes([2 << 3 | 2, len(info)]) + info
