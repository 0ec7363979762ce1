"""A small CEL interpreter for CRD x-kubernetes-validations rules.

Covers the language core (literals, lists, maps, member/index access, arithmetic, comparison,
in, &&/|| with error absorption, ?:), the macros has/all/exists/exists_one/map/filter, and the
common functions (size, matches, startsWith, endsWith, contains, int, uint, double, string,
type-free conversions, the Kubernetes strings and lists extensions' most used members).

Anything outside that raises Unsupported and the caller skips the rule (the real server would
evaluate it): quantities, URLs, IPs, timestamps/durations, optional types, cost limits.
"""

import re


class Unsupported(Exception):
    """The rule uses something this interpreter does not implement."""


class CelError(Exception):
    """A runtime error the real evaluator would report (e.g. no such key)."""


# ---- lexer -----------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<float>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
  | (?P<hex>0x[0-9a-fA-F]+u?)
  | (?P<int>\d+u?)
  | (?P<str>[rR]?(?:'''(?:.|\n)*?'''|\"\"\"(?:.|\n)*?\"\"\"|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"))
  | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/%!<>?:.,()\[\]{}])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unquote(tok):
    raw = tok[0] in "rR"
    if raw:
        tok = tok[1:]
    body = tok[3:-3] if tok[:3] in ("'''", '"""') else tok[1:-1]
    if raw:
        return body
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n in _ESCAPES:
                out.append(_ESCAPES[n])
                i += 2
                continue
            if n in "uU":
                width = 4 if n == "u" else 8
                out.append(chr(int(body[i + 2:i + 2 + width], 16)))
                i += 2 + width
                continue
            raise Unsupported("escape \\" + n)
        out.append(c)
        i += 1
    return "".join(out)


def _lex(src):
    pos, toks = 0, []
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise Unsupported("cannot tokenize at %r" % src[pos:pos + 10])
        pos = m.end()
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "ws":
            continue
        if kind == "float":
            toks.append(("lit", float(text)))
        elif kind == "hex":
            toks.append(("lit", int(text.rstrip("u"), 16)))
        elif kind == "int":
            toks.append(("lit", int(text.rstrip("u"))))
        elif kind == "str":
            toks.append(("lit", _unquote(text)))
        elif kind == "ident" and text in ("true", "false", "null"):
            toks.append(("lit", {"true": True, "false": False, "null": None}[text]))
        elif kind == "ident" and text == "in":
            toks.append(("op", "in"))
        else:
            toks.append((kind, text))
    toks.append(("eof", None))
    return toks


# ---- parser (AST as tuples) --------------------------------------------------------------

class _Parser:
    def __init__(self, src):
        self.toks = _lex(src)
        self.i = 0

    def peek(self, value=None):
        kind, text = self.toks[self.i]
        if value is None:
            return kind, text
        return kind == "op" and text == value

    def take(self, value=None):
        tok = self.toks[self.i]
        if value is not None and not (tok[0] == "op" and tok[1] == value):
            raise Unsupported("expected %r at token %r" % (value, tok[1]))
        self.i += 1
        return tok

    def parse(self):
        e = self.expr()
        if self.peek()[0] != "eof":
            raise Unsupported("trailing input at %r" % (self.peek()[1],))
        return e

    def expr(self):
        c = self.or_()
        if self.peek("?"):
            self.take("?")
            a = self.expr()
            self.take(":")
            b = self.expr()
            return ("cond", c, a, b)
        return c

    def or_(self):
        e = self.and_()
        while self.peek("||"):
            self.take()
            e = ("or", e, self.and_())
        return e

    def and_(self):
        e = self.rel()
        while self.peek("&&"):
            self.take()
            e = ("and", e, self.rel())
        return e

    def rel(self):
        e = self.add()
        while True:
            kind, text = self.peek()
            if kind == "op" and text in ("<", "<=", ">", ">=", "==", "!=", "in"):
                self.take()
                e = ("bin", text, e, self.add())
            else:
                return e

    def add(self):
        e = self.mul()
        while True:
            kind, text = self.peek()
            if kind == "op" and text in ("+", "-"):
                self.take()
                e = ("bin", text, e, self.mul())
            else:
                return e

    def mul(self):
        e = self.unary()
        while True:
            kind, text = self.peek()
            if kind == "op" and text in ("*", "/", "%"):
                self.take()
                e = ("bin", text, e, self.unary())
            else:
                return e

    def unary(self):
        if self.peek("!"):
            self.take()
            return ("not", self.unary())
        if self.peek("-"):
            self.take()
            return ("neg", self.unary())
        return self.member()

    def args(self):
        self.take("(")
        out = []
        if not self.peek(")"):
            out.append(self.expr())
            while self.peek(","):
                self.take()
                out.append(self.expr())
        self.take(")")
        return out

    def member(self):
        e = self.primary()
        while True:
            if self.peek("."):
                self.take()
                kind, name = self.take()
                if kind != "ident":
                    raise Unsupported("field name expected")
                if self.peek("("):
                    e = ("call", name, e, self.args())
                else:
                    e = ("sel", e, name)
            elif self.peek("["):
                self.take()
                idx = self.expr()
                self.take("]")
                e = ("index", e, idx)
            else:
                return e

    def primary(self):
        kind, text = self.take()
        if kind == "lit":
            return ("lit", text)
        if kind == "ident":
            if self.peek("("):
                return ("call", text, None, self.args())
            return ("id", text)
        if kind == "op" and text == "(":
            e = self.expr()
            self.take(")")
            return e
        if kind == "op" and text == "[":
            items = []
            if not self.peek("]"):
                items.append(self.expr())
                while self.peek(","):
                    self.take()
                    if self.peek("]"):
                        break
                    items.append(self.expr())
            self.take("]")
            return ("list", items)
        if kind == "op" and text == "{":
            entries = []
            if not self.peek("}"):
                while True:
                    k = self.expr()
                    self.take(":")
                    entries.append((k, self.expr()))
                    if not self.peek(","):
                        break
                    self.take()
                    if self.peek("}"):
                        break
            self.take("}")
            return ("map", entries)
        raise Unsupported("unexpected token %r" % (text,))


_CACHE = {}


def compile_rule(src):
    ast = _CACHE.get(src)
    if ast is None:
        ast = _Parser(src).parse()
        _CACHE[src] = ast
    return ast


# ---- evaluation --------------------------------------------------------------------------

def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _eq(a, b):
    if _is_num(a) and _is_num(b):
        return a == b
    if type(a) is not type(b) and not (a is None or b is None):
        if isinstance(a, bool) or isinstance(b, bool):
            return False
    return a == b


class _Eval:
    def __init__(self, env):
        self.env = env

    def ev(self, n):
        op = n[0]
        if op == "lit":
            return n[1]
        if op == "id":
            if n[1] in self.env:
                return self.env[n[1]]
            raise Unsupported("undeclared reference to " + n[1])
        if op == "list":
            return [self.ev(x) for x in n[1]]
        if op == "map":
            return {self.ev(k): self.ev(v) for k, v in n[1]}
        if op == "sel":
            target = self.ev(n[1])
            if isinstance(target, dict):
                if n[2] not in target:
                    raise CelError("no such key: " + n[2])
                return target[n[2]]
            raise CelError("no such key: " + n[2])
        if op == "index":
            target, idx = self.ev(n[1]), self.ev(n[2])
            if isinstance(target, list):
                if not _is_num(idx) or not 0 <= int(idx) < len(target):
                    raise CelError("index out of bounds: %s" % idx)
                return target[int(idx)]
            if isinstance(target, dict):
                if idx not in target:
                    raise CelError("no such key: %s" % idx)
                return target[idx]
            raise CelError("no such overload for index")
        if op == "not":
            v = self.ev(n[1])
            if not isinstance(v, bool):
                raise CelError("no such overload: !")
            return not v
        if op == "neg":
            v = self.ev(n[1])
            if not _is_num(v):
                raise CelError("no such overload: -")
            return -v
        if op in ("and", "or"):
            return self.logic(op, n[1], n[2])
        if op == "cond":
            c = self.ev(n[1])
            if not isinstance(c, bool):
                raise CelError("no such overload: ?:")
            return self.ev(n[2] if c else n[3])
        if op == "bin":
            return self.binary(n[1], self.ev(n[2]), self.ev(n[3]))
        if op == "call":
            return self.call(n[1], n[2], n[3])
        raise Unsupported(op)

    def logic(self, op, left, right):
        # CEL's && and || are commutative: an error on one side is absorbed by a decisive
        # value on the other.
        errors = []
        values = []
        for side in (left, right):
            try:
                v = self.ev(side)
                if not isinstance(v, bool):
                    raise CelError("no matching overload for '%s'" % op)
                values.append(v)
            except CelError as e:
                errors.append(e)
        decisive = op == "or"
        if decisive in values:
            return decisive
        if errors:
            raise errors[0]
        return not decisive

    def binary(self, op, a, b):
        if op == "==":
            return _eq(a, b)
        if op == "!=":
            return not _eq(a, b)
        if op == "in":
            if isinstance(b, list):
                return any(_eq(a, x) for x in b)
            if isinstance(b, dict):
                return a in b
            raise CelError("no such overload: in")
        if op in ("<", "<=", ">", ">="):
            if not ((_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str))
                    or (isinstance(a, bool) and isinstance(b, bool))):
                raise CelError("no such overload: %s" % op)
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        if op == "+":
            if (_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str)) or \
                    (isinstance(a, list) and isinstance(b, list)):
                return a + b
            raise CelError("no such overload: +")
        if not (_is_num(a) and _is_num(b)):
            raise CelError("no such overload: %s" % op)
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                raise CelError("division by zero")
            if isinstance(a, int) and isinstance(b, int):
                q = abs(a) // abs(b)
                return q if (a >= 0) == (b >= 0) else -q
            return a / b
        if op == "%":
            if b == 0:
                raise CelError("modulus by zero")
            r = abs(a) % abs(b)
            return r if a >= 0 else -r
        raise Unsupported(op)

    def with_var(self, name, value, body):
        saved = self.env.get(name, _UNSET)
        self.env[name] = value
        try:
            return self.ev(body)
        finally:
            if saved is _UNSET:
                del self.env[name]
            else:
                self.env[name] = saved

    def call(self, name, target, args):
        if name == "has" and target is None:
            if len(args) != 1 or args[0][0] != "sel":
                raise Unsupported("has() needs a field selection")
            obj = self.ev(args[0][1])
            return isinstance(obj, dict) and args[0][2] in obj
        if target is not None and name in ("all", "exists", "exists_one", "map", "filter"):
            return self.macro(name, self.ev(target), args)
        recv = self.ev(target) if target is not None else None
        vals = [self.ev(a) for a in args]
        if target is None:
            if name == "size" and len(vals) == 1:
                return _size(vals[0])
            if name in ("int", "uint"):
                try:
                    return int(vals[0])
                except (TypeError, ValueError):
                    raise CelError("cannot convert to int")
            if name == "double":
                return float(vals[0])
            if name == "string":
                v = vals[0]
                return v if isinstance(v, str) else ("true" if v is True else "false"
                                                     if v is False else str(v))
            if name == "bool":
                return vals[0] in (True, "true")
            raise Unsupported("function " + name)
        if name == "size" and not vals:
            return _size(recv)
        if isinstance(recv, str):
            if name == "matches":
                try:
                    return re.search(vals[0], recv) is not None
                except re.error:
                    raise Unsupported("regex")
            if name == "startsWith":
                return recv.startswith(vals[0])
            if name == "endsWith":
                return recv.endswith(vals[0])
            if name == "contains":
                return vals[0] in recv
            if name == "lowerAscii":
                return recv.lower()
            if name == "upperAscii":
                return recv.upper()
            if name == "trim":
                return recv.strip()
            if name == "split":
                return recv.split(vals[0]) if len(vals) == 1 else recv.split(vals[0],
                                                                              vals[1] - 1)
            if name == "indexOf":
                return recv.find(vals[0])
            if name == "lastIndexOf":
                return recv.rfind(vals[0])
            if name == "substring":
                return recv[vals[0]:vals[1]] if len(vals) == 2 else recv[vals[0]:]
            if name == "replace":
                return recv.replace(vals[0], vals[1]) if len(vals) == 2 else \
                    recv.replace(vals[0], vals[1], vals[2])
            if name == "charAt":
                return recv[vals[0]] if vals[0] < len(recv) else ""
        if isinstance(recv, list):
            if name == "join":
                return (vals[0] if vals else "").join(recv)
            if name == "isSorted":
                return recv == sorted(recv)
            if name == "sum":
                return sum(recv)
            if name == "min" and recv:
                return min(recv)
            if name == "max" and recv:
                return max(recv)
            if name == "indexOf":
                return next((i for i, x in enumerate(recv) if _eq(x, vals[0])), -1)
        raise Unsupported("function " + name)

    def macro(self, name, coll, args):
        if len(args) < 2 or args[0][0] != "id":
            raise Unsupported("macro " + name)
        var = args[0][1]
        items = list(coll.keys()) if isinstance(coll, dict) else coll
        if not isinstance(items, list):
            raise CelError("no such overload: " + name)
        if name in ("all", "exists"):
            decisive = name == "exists"
            err = None
            for x in items:
                try:
                    v = self.with_var(var, x, args[1])
                except CelError as e:
                    err = err or e
                    continue
                if not isinstance(v, bool):
                    raise CelError("no such overload: " + name)
                if v is decisive:
                    return decisive
            if err:
                raise err
            return not decisive
        if name == "exists_one":
            return sum(1 for x in items if self.with_var(var, x, args[1]) is True) == 1
        if name == "filter":
            return [x for x in items if self.with_var(var, x, args[1]) is True]
        if name == "map":
            if len(args) == 3:
                return [self.with_var(var, x, args[2]) for x in items
                        if self.with_var(var, x, args[1]) is True]
            return [self.with_var(var, x, args[1]) for x in items]
        raise Unsupported(name)


_UNSET = object()


def _size(v):
    if isinstance(v, (str, list, dict)):
        return len(v)
    raise CelError("no such overload: size")


def evaluate(rule, self_value, old_self=_UNSET):
    """Returns the rule's value. Raises Unsupported or CelError."""
    env = {"self": self_value}
    if old_self is not _UNSET:
        env["oldSelf"] = old_self
    return _Eval(env).ev(compile_rule(rule))


def evaluate_env(rule, env):
    """Evaluates with the given variables (admission: object, oldObject, request, ...)."""
    return _Eval(dict(env)).ev(compile_rule(rule))
