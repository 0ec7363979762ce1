"""ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) for the test API server.

Evaluates every stored ValidatingAdmissionPolicyBinding and its policy on the writes of
authenticated requests, as kube-apiserver's admission chain does after mutation and schema
validation: matchConstraints and the binding's matchResources (resourceRules with subresources,
excludeResourceRules, namespaceSelector, objectSelector), matchConditions, variables, validations
(expression, message, messageExpression, reason), failurePolicy and validationActions (Deny, Warn,
Audit). CEL runs through k8scel.

Not implemented, and refused loudly rather than skipped: paramKind/paramRef (a policy with
paramKind fails closed under failurePolicy Fail), the authorizer library, auditAnnotations. An
expression k8scel cannot evaluate is an evaluation error, which failurePolicy decides - so a
policy is never silently ignored.
"""

import k8scel
import k8sutil
from k8sutil import ApiError

POLICIES = ("admissionregistration.k8s.io", "validatingadmissionpolicies")
BINDINGS = ("admissionregistration.k8s.io", "validatingadmissionpolicybindings")

REASON_CODES = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422,
                "RequestEntityTooLarge": 413}


def _rule_matches(rule, res, operation, subresource, namespaced):
    def listed(values, value):
        values = values or []
        return "*" in values or value in values

    if not listed(rule.get("apiGroups"), res.group):
        return False
    if not listed(rule.get("apiVersions"), res.version):
        return False
    if not listed(rule.get("operations"), operation):
        return False
    scope = rule.get("scope") or "*"
    if scope == "Namespaced" and not namespaced or scope == "Cluster" and namespaced:
        return False
    wanted = res.plural + ("/" + subresource if subresource else "")
    for r in rule.get("resources") or []:
        if r == "*" and not subresource or r == "*/*" or r == wanted:
            return True
        if "/" in r:
            main, sub = r.split("/", 1)
            if subresource and (main == "*" and sub == subresource or
                                main == res.plural and sub == "*"):
                return True
    return False


def _selector_matches(selector, labels):
    if selector is None:
        return True
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    reqs = [(k, "=", [v]) for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or []:
        reqs.append((e.get("key", ""), ops.get(e.get("operator"), "in"),
                     list(e.get("values") or [])))
    return k8sutil.LabelSelector(reqs).matches({"metadata": {"labels": labels or {}}})


def _labels(obj):
    if not isinstance(obj, dict):
        return {}
    return (obj.get("metadata") or {}).get("labels") or {}


def _matches(constraints, req):
    """matchConstraints / matchResources against a request."""
    if constraints is None:
        return True
    res = req["res"]
    rules = constraints.get("resourceRules")
    if rules is not None and not any(
            _rule_matches(r, res, req["operation"], req["subresource"], res.namespaced)
            for r in rules):
        return False
    if any(_rule_matches(r, res, req["operation"], req["subresource"], res.namespaced)
           for r in constraints.get("excludeResourceRules") or []):
        return False
    ns_selector = constraints.get("namespaceSelector")
    if ns_selector:
        if res.gr == ("", "namespaces"):
            if not (_selector_matches(ns_selector, _labels(req["object"])) or
                    _selector_matches(ns_selector, _labels(req["oldObject"]))):
                return False
        elif res.namespaced:
            if not _selector_matches(ns_selector, _labels(req["namespaceObject"])):
                return False
    obj_selector = constraints.get("objectSelector")
    if obj_selector:
        if not (_selector_matches(obj_selector, _labels(req["object"])) or
                _selector_matches(obj_selector, _labels(req["oldObject"]))):
            return False
    return True


def _request_variable(req):
    res = req["res"]
    gvk = {"group": res.group, "version": res.version, "kind": res.kind}
    gvr = {"group": res.group, "version": res.version, "resource": res.plural}
    user = req["user"]
    return {
        "uid": req["uid"],
        "kind": gvk, "requestKind": gvk,
        "resource": gvr, "requestResource": gvr,
        "subResource": req["subresource"] or "",
        "requestSubResource": req["subresource"] or "",
        "name": req["name"] or "",
        "namespace": req["namespace"] or "",
        "operation": req["operation"],
        "userInfo": {"username": user.get("username", ""), "uid": user.get("uid", ""),
                     "groups": list(user.get("groups") or []),
                     "extra": {k: list(v) for k, v in (user.get("extra") or {}).items()}},
        "dryRun": bool(req["dryRun"]),
    }


class _Denied(Exception):
    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason
        self.message = message


def _evaluate(expr, env):
    try:
        return k8scel.evaluate_env(expr, env)
    except k8scel.Unsupported as e:
        raise k8scel.CelError("the test server cannot evaluate %r: %s" % (expr, e))


def _check(policy, env):
    """Raises _Denied for the first failing validation; returns the evaluation errors."""
    spec = policy.get("spec") or {}
    for validation in spec.get("validations") or []:
        expr = validation.get("expression", "")
        ok = _evaluate(expr, env)
        if ok is True:
            continue
        if ok is not False:
            raise k8scel.CelError("validation expression %r did not return a bool" % expr)
        message = None
        if validation.get("messageExpression"):
            try:
                m = _evaluate(validation["messageExpression"], env)
                if isinstance(m, str) and m.strip() and "\n" not in m:
                    message = m
            except k8scel.CelError:
                message = None
        if message is None:
            message = validation.get("message") or "failed expression: %s" % expr
        raise _Denied(validation.get("reason") or "Invalid", message)


def admit(store, res, operation, namespace, name, obj, old, subresource, user, dry_run):
    """Runs every binding on one write (store lock held). Raises ApiError to deny; returns a
    list of warnings. `user` is None for the server's own writes, which skip admission."""
    if user is None or res.gr in (POLICIES, BINDINGS):
        return []
    bindings = store.objects.get(BINDINGS) or {}
    if not bindings:
        return []
    policies = store.objects.get(POLICIES) or {}
    namespace_object = None
    if res.namespaced and namespace:
        namespace_object = (store.objects.get(("", "namespaces")) or {}).get(("", namespace))
    req = {"res": res, "operation": operation, "namespace": namespace, "name": name,
           "subresource": subresource, "object": obj, "oldObject": old,
           "namespaceObject": namespace_object, "user": user, "dryRun": dry_run,
           "uid": "00000000-0000-0000-0000-00000000a11c"}
    warnings = []
    for key in sorted(bindings):
        binding = bindings[key]
        bspec = binding.get("spec") or {}
        binding_name = binding["metadata"]["name"]
        policy_name = bspec.get("policyName", "")
        policy = policies.get(("", policy_name))
        if policy is None:
            continue
        pspec = policy.get("spec") or {}
        if not _matches(pspec.get("matchConstraints"), req):
            continue
        if not _matches(bspec.get("matchResources"), req):
            continue
        actions = bspec.get("validationActions") or []
        failure_policy = pspec.get("failurePolicy") or "Fail"
        prefix = "ValidatingAdmissionPolicy '%s' with binding '%s'" % (policy_name,
                                                                      binding_name)
        env = {"object": obj, "oldObject": old, "request": _request_variable(req),
               "namespaceObject": namespace_object, "params": None, "variables": {}}
        try:
            if pspec.get("paramKind"):
                raise k8scel.CelError("paramKind is not supported by the test server")
            skip = False
            for condition in pspec.get("matchConditions") or []:
                value = _evaluate(condition.get("expression", ""), env)
                if value is not True:
                    skip = True
                    break
            if skip:
                continue
            for variable in pspec.get("variables") or []:
                env["variables"][variable["name"]] = _evaluate(variable.get("expression", ""),
                                                               env)
            _check(policy, env)
        except _Denied as denied:
            if "Warn" in actions:
                warnings.append("Validation failed for %s: %s" % (prefix, denied.message))
            if "Deny" in actions:
                _deny(res, name, denied.reason, "%s denied request: %s"
                      % (prefix, denied.message))
        except k8scel.CelError as error:
            if failure_policy == "Ignore":
                continue
            message = "%s denied request: expression evaluation error: %s" % (prefix, error)
            if "Warn" in actions:
                warnings.append(message)
            if "Deny" in actions:
                _deny(res, name, "Forbidden", message)
    return warnings


def _deny(res, name, reason, message):
    code = REASON_CODES.get(reason, 422)
    what = '%s "%s"' % (res.qualified, name or "")
    if reason == "Invalid":
        full = "%s is invalid: : %s" % (what, message)
    elif reason == "Forbidden":
        full = "%s is forbidden: %s" % (what, message)
    else:
        full = message
    details = {"name": name or "", "kind": res.plural}
    if res.group:
        details["group"] = res.group
    raise ApiError(code, k8sutil.status(code, reason, full, details))
