"""Declarative Kafka message schemas, compiled to fast per-version encoders and decoders.

An ``Api`` holds the request and response bodies of one Kafka API written in the notation of
docs/schema-dsl.md (one field per line, nesting by indentation, version ranges per field). For each
(version, request|response, encode|decode) it generates a specialised Python function on first use
and caches it: consecutive fixed-width fields become one ``struct`` call, absent fields become
constants, so the hot APIs (Produce, Fetch) pay no per-field interpretation cost.

Bodies are plain dicts. Decoding fills every field of the schema (defaults for fields the version
lacks), so callers never branch on the version to read a field. Decoders never leak
IndexError/struct.error: any malformed input raises ``ProtocolDecodeError`` naming the API,
version and field. This module does no I/O.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafkakit.errors import ProtocolDecodeError, ProtocolEncodeError
from kafkakit.protocol import primitives as P

MAX_VERSION = 1 << 15

_FIXED = {
    "int8": ("b", 1),
    "int16": ("h", 2),
    "int32": ("i", 4),
    "int64": ("q", 8),
    "uint16": ("H", 2),
    "uint32": ("I", 4),
    "float64": ("d", 8),
    "bool": ("?", 1),
    "uuid": ("16s", 16),
}
_VARIABLE = {"string", "bytes", "records"}
_PRIMITIVES = set(_FIXED) | _VARIABLE


@dataclass
class Field:
    name: str
    type: str  # a primitive name, "array" (of structs), "parray" (of primitives) or "struct"
    elem: str | None = None  # element type of a "parray"
    children: list[Field] = field(default_factory=list)
    lo: int = 0
    hi: int = MAX_VERSION
    null_lo: int = 1
    null_hi: int = 0  # empty range: never nullable
    tag: int | None = None
    default: Any = None
    has_default: bool = False

    def present(self, v: int) -> bool:
        return self.lo <= v <= self.hi

    def nullable(self, v: int) -> bool:
        return self.null_lo <= v <= self.null_hi

    def default_value(self, v: int) -> Any:
        """The value of this field when absent (fresh object for containers)."""
        if self.has_default:
            return self.default
        if self.null_lo <= self.null_hi and (self.nullable(v) or not self.present(v)):
            return None
        return _zero(self, v)


def _zero(f: Field, v: int) -> Any:
    t = f.type
    if t in ("int8", "int16", "int32", "int64", "uint16", "uint32"):
        return 0
    if t == "float64":
        return 0.0
    if t == "bool":
        return False
    if t == "string":
        return ""
    if t in ("bytes", "records"):
        return b""
    if t == "uuid":
        return P.NIL_UUID
    if t in ("array", "parray"):
        return []
    if t == "struct":
        return {c.name: c.default_value(v) for c in f.children}
    raise AssertionError(t)


# ---------------------------------------------------------------- parsing

_LINE = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*)\s*:\s*(?P<type>\S+)(?P<rest>.*)$")


def _parse_range(tok: str) -> tuple[int, int]:
    if tok.endswith("+"):
        return int(tok[:-1]), MAX_VERSION
    if "-" in tok:
        a, b = tok.split("-", 1)
        return int(a), int(b)
    return int(tok), int(tok)


def _parse_default(tok: str) -> Any:
    if tok == "true":
        return True
    if tok == "false":
        return False
    if tok == "null":
        return None
    if tok.startswith('"'):
        return tok[1:-1]
    return int(tok, 0)


def parse_fields(text: str, where: str) -> list[Field]:
    """Parse the notation into a field tree; raises ValueError naming the line on a mistake."""
    root: list[Field] = []
    # stack of (indent of this level's lines, the list they go into)
    stack: list[tuple[int, list[Field]]] = []
    pending_parent: Field | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        m = _LINE.match(line.strip())
        if not m:
            raise ValueError(f"{where}: line {lineno}: cannot parse {raw.strip()!r}")
        if not stack:
            stack.append((indent, root))
        elif pending_parent is not None:
            if indent <= stack[-1][0]:
                raise ValueError(f"{where}: line {lineno}: {pending_parent.name} has no fields")
            stack.append((indent, pending_parent.children))
        else:
            while stack and indent < stack[-1][0]:
                stack.pop()
            if not stack or indent != stack[-1][0]:
                raise ValueError(f"{where}: line {lineno}: inconsistent indentation")
        pending_parent = None
        f = _make_field(m, where, lineno)
        stack[-1][1].append(f)
        if f.type in ("array", "struct"):
            pending_parent = f
    if pending_parent is not None:
        raise ValueError(f"{where}: {pending_parent.name} has no fields")
    return root


def _make_field(m: re.Match[str], where: str, lineno: int) -> Field:
    name, typ, rest = m.group("name"), m.group("type"), m.group("rest").split()
    nullable_all = typ.endswith("?")
    if nullable_all:
        typ = typ[:-1]
    f = Field(name=name, type="")
    if typ == "[]":
        f.type = "array"
    elif typ == "{}":
        f.type = "struct"
    elif typ.startswith("[") and typ.endswith("]"):
        f.type = "parray"
        f.elem = typ[1:-1]
        if f.elem not in _PRIMITIVES or f.elem == "records":
            raise ValueError(f"{where}: line {lineno}: bad array element type {f.elem!r}")
    elif typ in _PRIMITIVES:
        f.type = typ
    else:
        raise ValueError(f"{where}: line {lineno}: unknown type {typ!r}")
    for tok in rest:
        if tok.startswith("null="):
            f.null_lo, f.null_hi = _parse_range(tok[5:])
        elif tok.startswith("tag="):
            f.tag = int(tok[4:])
        elif tok.startswith("="):
            f.default = _parse_default(tok[1:])
            f.has_default = True
        elif tok[0].isdigit():
            f.lo, f.hi = _parse_range(tok)
        else:
            raise ValueError(f"{where}: line {lineno}: unknown token {tok!r}")
    if nullable_all:
        f.null_lo, f.null_hi = f.lo, f.hi
    return f


# ---------------------------------------------------------------- code generation


class _Gen:
    """Collects generated source lines and the constants they refer to."""

    def __init__(self, api: str, version: int, flexible: bool, record_views: bool = False) -> None:
        self.api = api
        self.version = version
        self.flexible = flexible
        self.record_views = record_views
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.n = 0

    def var(self, base: str) -> str:
        self.n += 1
        return f"{base}{self.n}"

    def const(self, value: Any, base: str = "K") -> str:
        name = self.var(f"_{base}")
        self.consts[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)


_STR_READERS: dict[tuple[str, bool, bool], Callable[..., Any]] = {
    # (type, flexible, nullable) -> reader
    ("string", False, False): P.read_string,
    ("string", False, True): P.read_nullable_string,
    ("string", True, False): P.read_compact_string,
    ("string", True, True): P.read_compact_nullable_string,
    ("bytes", False, False): P.read_bytes,
    ("bytes", False, True): P.read_nullable_bytes,
    ("bytes", True, False): P.read_compact_bytes,
    ("bytes", True, True): P.read_compact_nullable_bytes,
}
_STR_WRITERS: dict[tuple[str, bool], Callable[..., Any]] = {
    ("string", False): P.write_string,
    ("string", True): P.write_compact_string,
    ("bytes", False): P.write_bytes,
    ("bytes", True): P.write_compact_bytes,
}


def _reader_for(t: str, flexible: bool, nullable: bool, views: bool = False) -> Callable[..., Any]:
    if t == "records":
        if views:  # a response's records: a view into the frame, never copied (fetches are large)
            return P.read_compact_records_view if flexible else P.read_records_view
        t = "bytes"
        nullable = True
    return _STR_READERS[(t, flexible, nullable)]


def _writer_for(t: str, flexible: bool) -> Callable[..., Any]:
    return _STR_WRITERS[("bytes" if t == "records" else t, flexible)]


def _split(fields: list[Field], v: int, flexible: bool) -> tuple[list[Field], list[Field], list[Field]]:
    """(regular fields present at v, tagged fields present at v, fields absent at v)."""
    regular, tagged, absent = [], [], []
    for f in fields:
        if not f.present(v) or (f.tag is not None and not flexible):
            absent.append(f)
        elif f.tag is not None:
            tagged.append(f)
        else:
            regular.append(f)
    tagged.sort(key=lambda f: f.tag or 0)
    return regular, tagged, absent


# ---- decoding


def _gen_decode_struct(g: _Gen, fields: list[Field], ind: int, target: str) -> None:
    v, flex = g.version, g.flexible
    regular, tagged, absent = _split(fields, v, flex)
    values: dict[str, str] = {}
    i = 0
    while i < len(regular):
        f = regular[i]
        if f.type in _FIXED:
            run = [f]
            while i + 1 < len(regular) and regular[i + 1].type in _FIXED:
                i += 1
                run.append(regular[i])
            fmt = ">" + "".join(_FIXED[x.type][0] for x in run)
            s = struct.Struct(fmt)
            names = [g.var("v") for _ in run]
            g.emit(ind, f"f = {'/'.join(x.name for x in run)!r}")
            sc = g.const(s.unpack_from, "S")
            g.emit(ind, f"{', '.join(names)}{',' if len(names) == 1 else ''} = {sc}(buf, pos)")
            g.emit(ind, f"pos += {s.size}")
            for x, nm in zip(run, names, strict=True):
                values[x.name] = nm
        else:
            values[f.name] = _gen_decode_value(g, f, ind)
        i += 1
    if flex:
        tag_vars = {}
        for f in tagged:
            nm = g.var("t")
            tag_vars[f.name] = nm
            dv = f.default_value(v)
            g.emit(ind, f"{nm} = {repr(dv) if _literal_ok(dv) else '_copy(' + g.const(dv, 'D') + ')'}")
            values[f.name] = nm
        ntag, tg, sz, end = g.var("nt"), g.var("tg"), g.var("sz"), g.var("e")
        g.emit(ind, "f = '<tagged fields>'")
        g.emit(ind, f"{ntag}, pos = _ruv(buf, pos)")
        g.emit(ind, f"for _ in range({ntag}):")
        g.emit(ind + 1, f"{tg}, pos = _ruv(buf, pos)")
        g.emit(ind + 1, f"{sz}, pos = _ruv(buf, pos)")
        g.emit(ind + 1, f"{end} = pos + {sz}")
        g.emit(ind + 1, f"if {end} > len(buf): raise ValueError('tagged field runs past the end')")
        first = True
        for f in tagged:
            g.emit(ind + 1, f"{'if' if first else 'elif'} {tg} == {f.tag}:")
            first = False
            got = _gen_decode_value(g, f, ind + 2)
            g.emit(ind + 2, f"{tag_vars[f.name]} = {got}")
        g.emit(ind + 1, f"pos = {end}")
    for f in absent:
        dv = f.default_value(v)
        values[f.name] = repr(dv) if _literal_ok(dv) else f"_copy({g.const(dv, 'D')})"
    items = ", ".join(f"{f.name!r}: {values[f.name]}" for f in fields)
    g.emit(ind, f"{target} = {{{items}}}")


def _literal_ok(v: Any) -> bool:
    if v is None or isinstance(v, (bool, int, float, str, bytes)):
        return True
    if isinstance(v, list):
        return all(_literal_ok(x) for x in v)
    if isinstance(v, dict):
        return all(_literal_ok(x) for x in v.values())
    return False


def _gen_decode_value(g: _Gen, f: Field, ind: int) -> str:
    """Emit code reading one non-fixed (or tagged) field; return the variable holding it."""
    v, flex = g.version, g.flexible
    out = g.var("x")
    nullable = f.nullable(v)
    g.emit(ind, f"f = {f.name!r}")
    if f.type in _FIXED:
        s = struct.Struct(">" + _FIXED[f.type][0])
        g.emit(ind, f"{out}, = {g.const(s.unpack_from, 'S')}(buf, pos)")
        g.emit(ind, f"pos += {s.size}")
    elif f.type in _VARIABLE:
        rd = g.const(_reader_for(f.type, flex, nullable, g.record_views), "R")
        g.emit(ind, f"{out}, pos = {rd}(buf, pos)")
    elif f.type in ("array", "parray"):
        n = g.var("n")
        g.emit(ind, f"{n}, pos = {'_rcal' if flex else '_ral'}(buf, pos)")
        g.emit(ind, f"if {n} < 0:")
        if nullable:
            g.emit(ind + 1, f"{out} = None")
        else:
            g.emit(ind + 1, "raise ValueError('null in a non-nullable array')")
        g.emit(ind, "else:")
        if f.type == "parray" and f.elem in _FIXED and f.elem != "uuid":
            code, size = _FIXED[f.elem]  # type: ignore[index]
            g.emit(ind + 1, f"{out} = list(_unpack_from('>%d{code}' % {n}, buf, pos))")
            g.emit(ind + 1, f"pos += {n} * {size}")
        else:
            g.emit(ind + 1, f"{out} = []")
            g.emit(ind + 1, f"for _ in range({n}):")
            if f.type == "parray":
                ef = Field(name=f.name, type=f.elem or "")
                item = _gen_decode_value(g, ef, ind + 2)
            else:
                item = g.var("it")
                _gen_decode_struct(g, f.children, ind + 2, item)
            g.emit(ind + 2, f"{out}.append({item})")
    elif f.type == "struct":
        if nullable:
            # nullable structs carry an int8 presence marker (-1 null, 1 present)
            mk = g.var("m")
            g.emit(ind, f"{mk}, = _i8(buf, pos)")
            g.emit(ind, "pos += 1")
            g.emit(ind, f"if {mk} < 0:")
            g.emit(ind + 1, f"{out} = None")
            g.emit(ind, "else:")
            _gen_decode_struct(g, f.children, ind + 1, out)
        else:
            _gen_decode_struct(g, f.children, ind, out)
    else:  # pragma: no cover
        raise AssertionError(f.type)
    return out


# ---- encoding


def _gen_encode_struct(g: _Gen, fields: list[Field], ind: int, src: str, parts: str) -> None:
    v, flex = g.version, g.flexible
    regular, tagged, _ = _split(fields, v, flex)
    i = 0
    while i < len(regular):
        f = regular[i]
        if f.type in _FIXED:
            run = [f]
            while i + 1 < len(regular) and regular[i + 1].type in _FIXED:
                i += 1
                run.append(regular[i])
            s = struct.Struct(">" + "".join(_FIXED[x.type][0] for x in run))
            args = ", ".join(
                f"_u16({src}.get({x.name!r}, {_default_expr(g, x)}))"
                if x.type == "uuid"
                else f"{src}.get({x.name!r}, {_default_expr(g, x)})"
                for x in run
            )
            g.emit(ind, f"f = {'/'.join(x.name for x in run)!r}")
            g.emit(ind, f"{parts}.append({g.const(s.pack, 'S')}({args}))")
        else:
            val = g.var("y")
            g.emit(ind, f"{val} = {src}.get({f.name!r}, {_default_expr(g, f)})")
            _gen_encode_value(g, f, ind, val, parts)
        i += 1
    if flex:
        if not tagged:
            g.emit(ind, f"{parts}.append(b'\\x00')")
            return
        tp = g.var("tp")
        g.emit(ind, f"{tp} = []")
        for f in tagged:
            val = g.var("y")
            dv = f.default_value(v)
            g.emit(ind, f"{val} = {src}.get({f.name!r}, {_default_expr(g, f)})")
            g.emit(ind, f"if {val} != {g.const(dv, 'D')}:")
            sub = g.var("sp")
            g.emit(ind + 1, f"{sub} = []")
            _gen_encode_value(g, f, ind + 1, val, sub)
            g.emit(ind + 1, f"{sub} = b''.join({sub})")
            g.emit(ind + 1, f"{tp}.append(_wuv({f.tag}) + _wuv(len({sub})) + {sub})")
        g.emit(ind, f"{parts}.append(_wuv(len({tp})))")
        g.emit(ind, f"{parts}.extend({tp})")


def _default_expr(g: _Gen, f: Field) -> str:
    dv = f.default_value(g.version)
    if dv is None or isinstance(dv, (bool, int, float, str, bytes)):
        return repr(dv)
    return f"_copy({g.const(dv, 'D')})"


def _gen_encode_value(g: _Gen, f: Field, ind: int, val: str, parts: str) -> None:
    v, flex = g.version, g.flexible
    nullable = f.nullable(v)
    g.emit(ind, f"f = {f.name!r}")
    if f.type in _FIXED:
        s = struct.Struct(">" + _FIXED[f.type][0])
        arg = f"_u16({val})" if f.type == "uuid" else val
        g.emit(ind, f"{parts}.append({g.const(s.pack, 'S')}({arg}))")
    elif f.type in _VARIABLE:
        if f.type != "records" and not nullable:
            g.emit(ind, f"if {val} is None: raise ValueError('None in a non-nullable field')")
        g.emit(ind, f"{parts}.append({g.const(_writer_for(f.type, flex), 'W')}({val}))")
    elif f.type in ("array", "parray"):
        g.emit(ind, f"if {val} is None:")
        if nullable:
            null_len = b"\x00" if flex else b"\xff\xff\xff\xff"
            g.emit(ind + 1, f"{parts}.append({null_len!r})")
        else:
            g.emit(ind + 1, "raise ValueError('None in a non-nullable array')")
        g.emit(ind, "else:")
        g.emit(ind + 1, f"{parts}.append({'_wcal' if flex else '_wal'}(len({val})))")
        if f.type == "parray" and f.elem in _FIXED and f.elem != "uuid":
            code = _FIXED[f.elem][0]  # type: ignore[index]
            g.emit(ind + 1, f"{parts}.append(_pack('>%d{code}' % len({val}), *{val}))")
        else:
            it = g.var("e")
            g.emit(ind + 1, f"for {it} in {val}:")
            if f.type == "parray":
                _gen_encode_value(g, Field(name=f.name, type=f.elem or ""), ind + 2, it, parts)
            else:
                _gen_encode_struct(g, f.children, ind + 2, it, parts)
    elif f.type == "struct":
        if nullable:
            g.emit(ind, f"if {val} is None:")
            g.emit(ind + 1, f"{parts}.append(b'\\xff')")
            g.emit(ind, "else:")
            g.emit(ind + 1, f"{parts}.append(b'\\x01')")
            _gen_encode_struct(g, f.children, ind + 1, val, parts)
        else:
            _gen_encode_struct(g, f.children, ind, val, parts)
    else:  # pragma: no cover
        raise AssertionError(f.type)


def _copy(v: Any) -> Any:
    if isinstance(v, list):
        return [_copy(x) for x in v]
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    return v


def _u16(v: Any) -> bytes:
    """A uuid field's value: 16 raw bytes (a uuid.UUID is accepted too)."""
    if isinstance(v, (bytes, bytearray)) and len(v) == 16:
        return bytes(v)
    b = getattr(v, "bytes", None)
    if isinstance(b, bytes) and len(b) == 16:
        return b
    raise ValueError(f"a uuid must be 16 bytes, got {v!r}")


_BASE_NS: dict[str, Any] = {
    "_u16": _u16,
    "_ruv": P.read_uvarint,
    "_wuv": P.write_uvarint,
    "_ral": P.read_array_len,
    "_rcal": P.read_compact_array_len,
    "_wal": P.write_array_len,
    "_wcal": P.write_compact_array_len,
    "_unpack_from": struct.unpack_from,
    "_pack": struct.pack,
    "_i8": P.INT8.unpack_from,
    "_copy": _copy,
    "ProtocolDecodeError": ProtocolDecodeError,
    "ProtocolEncodeError": ProtocolEncodeError,
}

_DECODE_ERRORS = (
    struct.error,
    IndexError,
    ValueError,
    UnicodeDecodeError,
    OverflowError,
    TypeError,
    MemoryError,
)
_ENCODE_ERRORS = (
    struct.error,
    ValueError,
    TypeError,
    AttributeError,
    OverflowError,
    UnicodeEncodeError,
    KeyError,
)


def compile_decoder(
    api: str, version: int, flexible: bool, fields: list[Field], record_views: bool = False
) -> Callable[..., Any]:
    """``record_views``: records fields come out as memoryviews into the buffer (responses)."""
    g = _Gen(api, version, flexible, record_views)
    g.emit(0, "def decode(buf, pos=0):")
    g.emit(1, "f = '<start>'")
    g.emit(1, "try:")
    _gen_decode_struct(g, fields, 2, "out")
    g.emit(2, "return out, pos")
    g.emit(1, "except _DECODE_ERRORS as exc:")
    g.emit(2, f"raise ProtocolDecodeError({api!r}, {version}, f, str(exc) or type(exc).__name__) from None")
    return _exec(g, "decode", _DECODE_ERRORS=_DECODE_ERRORS)


def compile_encoder(api: str, version: int, flexible: bool, fields: list[Field]) -> Callable[..., Any]:
    g = _Gen(api, version, flexible)
    g.emit(0, "def encode(d):")
    g.emit(1, "f = '<start>'")
    g.emit(1, "parts = []")
    g.emit(1, "try:")
    g.emit(2, "pass")
    _gen_encode_struct(g, fields, 2, "d", "parts")
    g.emit(1, "except _ENCODE_ERRORS as exc:")
    g.emit(2, f"raise ProtocolEncodeError({api!r}, {version}, f, str(exc) or type(exc).__name__) from None")
    g.emit(1, "return b''.join(parts)")
    return _exec(g, "encode", _ENCODE_ERRORS=_ENCODE_ERRORS)


def _exec(g: _Gen, name: str, **extra: Any) -> Callable[..., Any]:
    ns = dict(_BASE_NS)
    ns.update(g.consts)
    ns.update(extra)
    src = "\n".join(g.lines)
    exec(compile(src, f"<kafkakit {g.api} v{g.version} {name}>", "exec"), ns)  # noqa: S102
    fn = ns[name]
    fn.__source__ = src
    return fn  # type: ignore[no-any-return]


# ---------------------------------------------------------------- Api


class Api:
    """One Kafka API: key, name, version range and both message bodies."""

    def __init__(
        self,
        key: int,
        name: str,
        *,
        versions: tuple[int, int],
        flexible: int | None,
        request: str,
        response: str,
    ) -> None:
        self.key = key
        self.name = name
        self.min_version, self.max_version = versions
        self.flexible_from = flexible
        self.request_fields = parse_fields(request, f"{name} request")
        self.response_fields = parse_fields(response, f"{name} response")
        self._cache: dict[tuple[int, str], Callable[..., Any]] = {}

    def __repr__(self) -> str:
        return f"Api({self.key}, {self.name!r}, versions=({self.min_version}, {self.max_version}))"

    def is_flexible(self, version: int) -> bool:
        return self.flexible_from is not None and version >= self.flexible_from

    def supports(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version

    def _fn(self, version: int, which: str) -> Callable[..., Any]:
        fn = self._cache.get((version, which))
        if fn is None:
            if not self.supports(version):
                raise ValueError(
                    f"{self.name} v{version} is not supported (versions {self.min_version}-{self.max_version})"
                )
            fields = self.request_fields if which[0] == "q" else self.response_fields
            flex = self.is_flexible(version)
            label = f"{self.name}{'Request' if which[0] == 'q' else 'Response'}"
            if which[1] == "e":
                fn = compile_encoder(label, version, flex, fields)
            else:
                fn = compile_decoder(label, version, flex, fields, record_views=which[0] != "q")
            self._cache[(version, which)] = fn
        return fn

    def encode_request(self, version: int, body: dict[str, Any]) -> bytes:
        return self._fn(version, "qe")(body)  # type: ignore[no-any-return]

    def decode_request(self, version: int, buf: Any, pos: int = 0) -> dict[str, Any]:
        return self._fn(version, "qd")(buf, pos)[0]  # type: ignore[no-any-return]

    def encode_response(self, version: int, body: dict[str, Any]) -> bytes:
        return self._fn(version, "se")(body)  # type: ignore[no-any-return]

    def decode_response(self, version: int, buf: Any, pos: int = 0) -> dict[str, Any]:
        return self._fn(version, "sd")(buf, pos)[0]  # type: ignore[no-any-return]

    def decoder(self, version: int, request: bool) -> Callable[..., Any]:
        """The compiled ``decode(buf, pos) -> (dict, end_pos)`` function."""
        return self._fn(version, "qd" if request else "sd")

    def encoder(self, version: int, request: bool) -> Callable[..., Any]:
        """The compiled ``encode(dict) -> bytes`` function."""
        return self._fn(version, "qe" if request else "se")
