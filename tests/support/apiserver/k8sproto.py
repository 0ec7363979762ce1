"""Decodes the Kubernetes protobuf encoding (application/vnd.kubernetes.protobuf) of the
built-in kinds that kubectl's typed clients send (kubectl create namespace|configmap|secret|
serviceaccount|role|rolebinding|clusterrole|clusterrolebinding|service|deployment, leases).

Only decoding is needed: those clients accept JSON answers. Field numbers come from
k8s.io/api generated.proto. Unknown fields are skipped, unknown kinds raise ValueError.
"""

import base64
import datetime
import struct

MAGIC = b"k8s\x00"


def _varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf):
    """Yields (number, wiretype, value) for one message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 1:
            val = buf[pos:pos + 8]
            pos += 8
        elif wt == 2:
            n, pos = _varint(buf, pos)
            val = buf[pos:pos + n]
            pos += n
        elif wt == 5:
            val = buf[pos:pos + 4]
            pos += 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield num, wt, val


# A schema maps field number -> (json name, type, repeated?). Types: "string", "bytes", "int",
# "bool", "time", "map", "bmap" (string->bytes), "intorstr", "quantity", or a nested schema dict.
TIME = "time"

OWNER_REF = {1: ("kind", "string", False), 3: ("name", "string", False),
             4: ("uid", "string", False), 5: ("apiVersion", "string", False),
             6: ("controller", "bool", False), 7: ("blockOwnerDeletion", "bool", False)}
OBJECT_META = {1: ("name", "string", False), 2: ("generateName", "string", False),
               3: ("namespace", "string", False), 5: ("uid", "string", False),
               6: ("resourceVersion", "string", False), 7: ("generation", "int", False),
               8: ("creationTimestamp", TIME, False), 9: ("deletionTimestamp", TIME, False),
               10: ("deletionGracePeriodSeconds", "int", False), 11: ("labels", "map", False),
               12: ("annotations", "map", False), 13: ("ownerReferences", OWNER_REF, True),
               14: ("finalizers", "string", True)}
LABEL_SELECTOR_REQ = {1: ("key", "string", False), 2: ("operator", "string", False),
                      3: ("values", "string", True)}
LABEL_SELECTOR = {1: ("matchLabels", "map", False),
                  2: ("matchExpressions", LABEL_SELECTOR_REQ, True)}
POLICY_RULE = {1: ("verbs", "string", True), 2: ("apiGroups", "string", True),
               3: ("resources", "string", True), 4: ("resourceNames", "string", True),
               5: ("nonResourceURLs", "string", True)}
SUBJECT = {1: ("kind", "string", False), 2: ("apiGroup", "string", False),
           3: ("name", "string", False), 4: ("namespace", "string", False)}
ROLE_REF = {1: ("apiGroup", "string", False), 2: ("kind", "string", False),
            3: ("name", "string", False)}
OBJECT_REF = {1: ("kind", "string", False), 2: ("namespace", "string", False),
              3: ("name", "string", False), 4: ("uid", "string", False),
              5: ("apiVersion", "string", False), 6: ("resourceVersion", "string", False),
              7: ("fieldPath", "string", False)}
LOCAL_REF = {1: ("name", "string", False)}
SERVICE_PORT = {1: ("name", "string", False), 2: ("protocol", "string", False),
                3: ("port", "int", False), 4: ("targetPort", "intorstr", False),
                5: ("nodePort", "int", False), 6: ("appProtocol", "string", False)}
SERVICE_SPEC = {1: ("ports", SERVICE_PORT, True), 2: ("selector", "map", False),
                3: ("clusterIP", "string", False), 4: ("type", "string", False),
                5: ("externalIPs", "string", True), 7: ("sessionAffinity", "string", False),
                8: ("loadBalancerIP", "string", False), 11: ("externalName", "string", False),
                17: ("ipFamilyPolicy", "string", False), 18: ("clusterIPs", "string", True),
                19: ("ipFamilies", "string", True)}
CONTAINER_PORT = {1: ("name", "string", False), 2: ("hostPort", "int", False),
                  3: ("containerPort", "int", False), 4: ("protocol", "string", False),
                  5: ("hostIP", "string", False)}
ENV_VAR = {1: ("name", "string", False), 2: ("value", "string", False)}
RESOURCES = {1: ("limits", "qmap", False), 2: ("requests", "qmap", False)}
CONTAINER = {1: ("name", "string", False), 2: ("image", "string", False),
             3: ("command", "string", True), 4: ("args", "string", True),
             5: ("workingDir", "string", False), 6: ("ports", CONTAINER_PORT, True),
             7: ("env", ENV_VAR, True), 8: ("resources", RESOURCES, False),
             13: ("terminationMessagePath", "string", False),
             14: ("imagePullPolicy", "string", False),
             20: ("terminationMessagePolicy", "string", False)}
POD_SPEC = {2: ("containers", CONTAINER, True), 3: ("restartPolicy", "string", False),
            4: ("terminationGracePeriodSeconds", "int", False),
            6: ("dnsPolicy", "string", False), 7: ("nodeSelector", "map", False),
            8: ("serviceAccountName", "string", False), 10: ("nodeName", "string", False),
            19: ("schedulerName", "string", False), 20: ("initContainers", CONTAINER, True)}
POD_TEMPLATE = {1: ("metadata", OBJECT_META, False), 2: ("spec", POD_SPEC, False)}
DEPLOYMENT_SPEC = {1: ("replicas", "int", False), 2: ("selector", LABEL_SELECTOR, False),
                   3: ("template", POD_TEMPLATE, False), 4: ("strategy", {}, False),
                   5: ("minReadySeconds", "int", False),
                   6: ("revisionHistoryLimit", "int", False),
                   9: ("progressDeadlineSeconds", "int", False)}
LEASE_SPEC = {1: ("holderIdentity", "string", False), 2: ("leaseDurationSeconds", "int", False),
              3: ("acquireTime", "microtime", False), 4: ("renewTime", "microtime", False),
              5: ("leaseTransitions", "int", False)}

KINDS = {
    ("v1", "Namespace"): {1: ("metadata", OBJECT_META, False),
                          2: ("spec", {1: ("finalizers", "string", True)}, False),
                          3: ("status", {1: ("phase", "string", False)}, False)},
    ("v1", "ConfigMap"): {1: ("metadata", OBJECT_META, False), 2: ("data", "map", False),
                          3: ("binaryData", "bmap", False), 4: ("immutable", "bool", False)},
    ("v1", "Secret"): {1: ("metadata", OBJECT_META, False), 2: ("data", "bmap", False),
                       3: ("type", "string", False), 4: ("stringData", "map", False),
                       5: ("immutable", "bool", False)},
    ("v1", "ServiceAccount"): {1: ("metadata", OBJECT_META, False),
                               2: ("secrets", OBJECT_REF, True),
                               3: ("imagePullSecrets", LOCAL_REF, True),
                               4: ("automountServiceAccountToken", "bool", False)},
    ("v1", "Service"): {1: ("metadata", OBJECT_META, False), 2: ("spec", SERVICE_SPEC, False),
                        3: ("status", {}, False)},
    ("rbac.authorization.k8s.io/v1", "Role"): {1: ("metadata", OBJECT_META, False),
                                               2: ("rules", POLICY_RULE, True)},
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): {1: ("metadata", OBJECT_META, False),
                                                      2: ("rules", POLICY_RULE, True)},
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): {1: ("metadata", OBJECT_META, False),
                                                      2: ("subjects", SUBJECT, True),
                                                      3: ("roleRef", ROLE_REF, False)},
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): {
        1: ("metadata", OBJECT_META, False), 2: ("subjects", SUBJECT, True),
        3: ("roleRef", ROLE_REF, False)},
    ("apps/v1", "Deployment"): {1: ("metadata", OBJECT_META, False),
                                2: ("spec", DEPLOYMENT_SPEC, False), 3: ("status", {}, False)},
    ("coordination.k8s.io/v1", "Lease"): {1: ("metadata", OBJECT_META, False),
                                          2: ("spec", LEASE_SPEC, False)},
}


def _time(buf, micro=False):
    seconds = nanos = 0
    for num, _, val in _fields(buf):
        if num == 1:
            seconds = val
        elif num == 2:
            nanos = val
    seconds = _signed(seconds)
    if seconds <= 0:
        return None
    t = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    if micro:
        return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (nanos // 1000)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _map_entry(buf):
    k = v = b""
    for num, _, val in _fields(buf):
        if num == 1:
            k = val
        elif num == 2:
            v = val
    return k, v


def _signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def _decode(buf, schema):
    out = {}
    for num, wt, val in _fields(buf):
        if num not in schema:
            continue
        name, typ, repeated = schema[num]
        if isinstance(typ, dict):
            value = _decode(val, typ)
        elif typ == "string":
            value = val.decode()
        elif typ == "bytes":
            value = base64.b64encode(val).decode()
        elif typ == "int":
            value = _signed(val) if wt == 0 else struct.unpack("<q", val)[0]
        elif typ == "bool":
            value = bool(val)
        elif typ == TIME:
            value = _time(val)
        elif typ == "microtime":
            value = _time(val, micro=True)
        elif typ in ("map", "bmap", "qmap"):
            k, v = _map_entry(val)
            if typ == "map":
                v = v.decode()
            elif typ == "bmap":
                v = base64.b64encode(v).decode()
            else:
                v = next((x.decode() for n, _, x in _fields(v) if n == 1), "")
            out.setdefault(name, {})[k.decode()] = v
            continue
        elif typ == "intorstr":
            kind, ival, sval = 0, 0, ""
            for n, _, x in _fields(val):
                if n == 1:
                    kind = x
                elif n == 2:
                    ival = _signed(x)
                elif n == 3:
                    sval = x.decode()
            value = sval if kind == 1 else ival
        else:
            continue
        if repeated:
            out.setdefault(name, []).append(value)
        elif value is None or (value in ("", 0, False) and not isinstance(value, dict) and
                               name not in KEEP_ZERO):
            # Generated marshallers write every non-pointer field; Go's JSON (omitempty) would
            # not show the empty ones.
            continue
        else:
            out[name] = value
    return out


# Pointer fields in the Go types: a zero value was set on purpose and must survive.
KEEP_ZERO = {"replicas", "revisionHistoryLimit", "progressDeadlineSeconds",
             "terminationGracePeriodSeconds", "automountServiceAccountToken", "immutable",
             "leaseDurationSeconds", "leaseTransitions", "deletionGracePeriodSeconds",
             "controller", "blockOwnerDeletion"}


def decode(data):
    """Returns the object as JSON-compatible dicts, or raises ValueError."""
    if not data.startswith(MAGIC):
        raise ValueError("provided data does not appear to be a protobuf message, expected "
                         "prefix [107 56 115 0]")
    api_version = kind = ""
    raw = b""
    for num, _, val in _fields(data[len(MAGIC):]):
        if num == 1:
            for n, _, v in _fields(val):
                if n == 1:
                    api_version = v.decode()
                elif n == 2:
                    kind = v.decode()
        elif num == 2:
            raw = val
    schema = KINDS.get((api_version, kind))
    if schema is None:
        raise ValueError("protobuf decoding of %s %s is not supported by the test API server"
                         % (api_version, kind))
    obj = {"apiVersion": api_version, "kind": kind}
    obj.update(_decode(raw, schema))
    obj.setdefault("metadata", {})
    return obj
