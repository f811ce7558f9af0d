"""Decides whether one Avro schema can read data written with another, and says why not.

The rules are the schema resolution rules of the Avro specification
(https://avro.apache.org/docs/1.11.1/specification/#schema-resolution) as Confluent Schema
Registry applies them for its compatibility levels:

- primitives must match, except the promotions int -> long/float/double, long -> float/double,
  float -> double and string <-> bytes;
- records, enums and fixed match by unqualified name or by a reader alias; a reader field the
  writer lacks needs a default, a writer field the reader lacks is skipped; fields match by name
  or reader field alias;
- an enum symbol the writer can write must exist in the reader, unless the reader enum has a
  ``default``; fixed sizes must be equal;
- arrays and maps compare their items / values;
- every branch of a writer union must be readable (by the reader, or by some branch of a reader
  union); a non-union writer needs some reader union branch that can read it;
- decimals must keep precision and scale (Confluent rejects either change); any other logical
  type follows its underlying type.

Left out on purpose: the Avro Java special case that lets a reader enum field with an enum
default stand in for a missing field default (it is an implementation quirk, not the spec), and
validation of default values against their field type (the registry validates on register).

``can_read`` walks one reader/writer pair; ``check`` applies a compatibility mode to a new
schema and the previously registered versions, and marks each problem with the direction that
failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

Node = dict[str, Any]
"""A normalized schema node: ``type`` is always a string; named types carry their full name;
unions are ``{"type": "union", "branches": [...]}``; references to named types already defined
are ``{"type": "reference", "name": <full name>}``."""

PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
_NAMED: Final = frozenset({"record", "error", "enum", "fixed"})
_RECORDS: Final = frozenset({"record", "error"})
# writer type -> reader types that can read it (Avro specification, "Schema Resolution")
_PROMOTIONS: Final[dict[str, frozenset[str]]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}
_PROMOTIONS_TEXT: Final = (
    "Avro only promotes int->long/float/double, long->float/double, float->double and "
    "string<->bytes"
)

MODES: Final = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)


class InvalidSchemaError(ValueError):
    """A schema is not valid Avro, so its compatibility cannot be decided."""


@dataclass(frozen=True)
class Incompatibility:
    """One reason a reader cannot read a writer's data.

    ``path`` starts at the root record's name and follows fields (``[]`` for array items,
    ``{}`` for map values), e.g. ``PurchaseOrderChanged.lines[].ordered_qty``. ``rule`` is a
    stable code for tooling; ``message`` explains the problem and the fix; ``direction`` is set
    by ``check`` and says which side cannot read the other.
    """

    path: str
    rule: str
    message: str
    direction: str = ""

    def __str__(self) -> str:
        direction = f"{self.direction}: " if self.direction else ""
        return f"{self.path} [{self.rule}] {direction}{self.message}"


@dataclass(frozen=True)
class _Roles:
    """How messages name the two schemas, and which of them is the new one (if known)."""

    reader: str = "the reader schema"
    writer: str = "the writer schema"
    new_side: str = ""  # "reader", "writer" or "" when neither is the schema being proposed


@dataclass
class _Walk:
    """State of one reader/writer comparison."""

    reader_names: dict[str, Node]
    writer_names: dict[str, Node]
    roles: _Roles
    # record pairs being compared further up the stack; a recursive type meets itself here
    in_progress: set[tuple[str, str]] = field(default_factory=set)


# ---------------------------------------------------------------------------------------------
# public API


def full_name(name: str, namespace: str | None, enclosing_namespace: str) -> str:
    """The full name of a named type per the Avro spec: a dotted name is already full; otherwise
    the type's own ``namespace`` (``""`` meaning none) or else the enclosing one applies."""
    if "." in name:
        return name
    space = namespace if namespace is not None else enclosing_namespace
    return f"{space}.{name}" if space else name


def can_read(
    reader: Any,
    writer: Any,
    *,
    reader_label: str = "the reader schema",
    writer_label: str = "the writer schema",
) -> list[Incompatibility]:
    """Every reason ``reader`` cannot read data written with ``writer``; empty means it can.

    Both schemas are parsed JSON (dicts / lists / strings as in an .avsc file) and
    self-contained: a named type is defined once and may be referenced by name afterwards.
    Raises InvalidSchemaError when either schema is not valid Avro.
    """
    return _can_read(reader, writer, _Roles(reader_label, writer_label))


def check(
    new: Any,
    previous: Sequence[Any],
    mode: str,
    *,
    labels: Sequence[str] | None = None,
) -> list[Incompatibility]:
    """Every reason ``new`` may not follow ``previous`` (oldest first) under ``mode``.

    BACKWARD: the new schema reads data written with the latest previous version; FORWARD: the
    latest previous version reads data written with the new schema; FULL: both; the
    ``_TRANSITIVE`` variants compare with every previous version; NONE accepts anything.
    ``labels`` name the previous versions in messages (default ``version 1`` .. ``version N``).
    """
    mode_key = mode.upper()
    if mode_key not in MODES:
        raise ValueError(f"unknown compatibility mode {mode!r}; use one of {', '.join(MODES)}")
    names = (
        list(labels)
        if labels is not None
        else [f"version {n}" for n in range(1, len(previous) + 1)]
    )
    if len(names) != len(previous):
        raise ValueError(f"{len(names)} labels given for {len(previous)} previous versions")
    if mode_key == "NONE" or not previous:
        return []
    versions = list(zip(names, previous, strict=True))
    targets = versions if mode_key.endswith("_TRANSITIVE") else versions[-1:]
    problems: list[Incompatibility] = []
    for label, old in targets:
        if not mode_key.startswith("FORWARD"):
            problems += _new_reads_old(new, old, label)
        if not mode_key.startswith("BACKWARD"):
            problems += _old_reads_new(new, old, label)
    return problems


# ---------------------------------------------------------------------------------------------
# directions


def _new_reads_old(new: Any, old: Any, label: str) -> list[Incompatibility]:
    roles = _Roles(reader="the new schema", writer=label, new_side="reader")
    direction = f"the new schema cannot read data written with {label}"
    return [replace(p, direction=direction) for p in _can_read(new, old, roles)]


def _old_reads_new(new: Any, old: Any, label: str) -> list[Incompatibility]:
    roles = _Roles(reader=label, writer="the new schema", new_side="writer")
    direction = f"consumers on {label} cannot read data written with the new schema"
    return [replace(p, direction=direction) for p in _can_read(old, new, roles)]


def _can_read(reader: Any, writer: Any, roles: _Roles) -> list[Incompatibility]:
    reader_root, reader_names = _parse(reader)
    writer_root, writer_names = _parse(writer)
    walk = _Walk(reader_names, writer_names, roles)
    return _compare(walk, reader_root, writer_root, _root_path(reader_root))


# ---------------------------------------------------------------------------------------------
# parsing: resolve names once so the comparison never has to think about namespaces


def _parse(schema: Any) -> tuple[Node, dict[str, Node]]:
    names: dict[str, Node] = {}
    return _normalize(schema, "", names), names


def _normalize(schema: Any, namespace: str, names: dict[str, Node]) -> Node:
    if isinstance(schema, list):
        return {"type": "union", "branches": [_normalize(b, namespace, names) for b in schema]}
    if isinstance(schema, str):
        return _normalize_name(schema, namespace, names)
    if not isinstance(schema, dict) or "type" not in schema:
        raise InvalidSchemaError(f"not an Avro schema: {str(schema)[:80]!r}")
    kind = schema["type"]
    if isinstance(kind, list | dict):
        # {"type": {...}} and {"type": [...]} wrap a schema, as in a field declaration
        return _normalize(kind, namespace, names)
    if not isinstance(kind, str):
        raise InvalidSchemaError(f"'type' must be a string, list or object, got {kind!r}")
    if kind in _NAMED:
        return _normalize_named(schema, namespace, names)
    if kind == "array":
        return {**schema, "items": _normalize(_member(schema, "items"), namespace, names)}
    if kind == "map":
        return {**schema, "values": _normalize(_member(schema, "values"), namespace, names)}
    if kind in PRIMITIVES:
        return dict(schema)
    return _normalize_name(kind, namespace, names)


def _normalize_name(name: str, namespace: str, names: dict[str, Node]) -> Node:
    if name in PRIMITIVES:
        return {"type": name}
    candidates = [name] if "." in name or not namespace else [f"{namespace}.{name}", name]
    for candidate in candidates:
        if candidate in names:
            return {"type": "reference", "name": candidate}
    raise InvalidSchemaError(
        f"type {name!r} is used before it is defined (looked for {' or '.join(candidates)}); "
        "define the named type at its first use and refer to it by name afterwards"
    )


def _normalize_named(schema: dict[str, Any], namespace: str, names: dict[str, Node]) -> Node:
    name = _member(schema, "name")
    full = full_name(name, schema.get("namespace"), namespace)
    if full in names:
        # documents assembled from several files may repeat a shared type; the first wins
        return {"type": "reference", "name": full}
    own_namespace = full.rpartition(".")[0]
    node: Node = {
        **schema,
        "name": full,
        "aliases": [full_name(a, None, own_namespace) for a in schema.get("aliases", [])],
    }
    names[full] = node  # registered before the fields: a record may contain itself
    if schema["type"] in _RECORDS:
        node["fields"] = [
            _normalize_field(f, own_namespace, names) for f in _member(schema, "fields")
        ]
    return node


def _normalize_field(declared: Any, namespace: str, names: dict[str, Node]) -> Node:
    if not isinstance(declared, dict) or "name" not in declared or "type" not in declared:
        raise InvalidSchemaError(f"a record field needs 'name' and 'type': {declared!r}")
    return {
        **declared,
        "type": _normalize(declared["type"], namespace, names),
        "aliases": list(declared.get("aliases", [])),
    }


def _member(schema: dict[str, Any], key: str) -> Any:
    if key not in schema:
        raise InvalidSchemaError(f"a {schema.get('type')} schema needs {key!r}: {schema!r}")
    return schema[key]


def _root_path(root: Node) -> str:
    return _simple(root["name"]) if root["type"] in _NAMED else "<root>"


# ---------------------------------------------------------------------------------------------
# comparison


def _compare(walk: _Walk, reader: Node, writer: Node, path: str) -> list[Incompatibility]:
    reader = _resolve(reader, walk.reader_names)
    writer = _resolve(writer, walk.writer_names)
    if writer["type"] == "union":
        return _compare_writer_union(walk, reader, writer, path)
    if reader["type"] == "union":
        return _compare_reader_union(walk, reader, writer, path)
    if reader["type"] == writer["type"]:
        return _compare_same_kind(walk, reader, writer, path)
    if reader["type"] in _PROMOTIONS.get(writer["type"], frozenset()):
        return []
    return [_type_mismatch(walk, reader, writer, path)]


def _compare_writer_union(
    walk: _Walk, reader: Node, writer: Node, path: str
) -> list[Incompatibility]:
    problems: list[Incompatibility] = []
    for branch in writer["branches"]:
        problems += _compare(walk, reader, branch, path)
    return problems


def _compare_reader_union(
    walk: _Walk, reader: Node, writer: Node, path: str
) -> list[Incompatibility]:
    attempts = [(b, _compare(walk, b, writer, path)) for b in reader["branches"]]
    if any(not problems for _, problems in attempts):
        return []
    for branch, problems in attempts:
        # a branch of the same kind and name is the one meant; its own problems explain more
        if _same_kind_and_name(_resolve(branch, walk.reader_names), writer):
            return problems
    written = _describe(writer)
    return [
        Incompatibility(
            path,
            "MISSING_UNION_BRANCH",
            f"{walk.roles.writer} writes {written} but the {_describe(reader)} in "
            f"{walk.roles.reader} has no branch that can read it; "
            + _fix(
                walk.roles,
                reader_new=f"add a {written} branch to the union",
                writer_new=f"keep writing a type the union already has; {written} is new to it",
                neither=f"add a {written} branch to the reader's union",
            ),
        )
    ]


def _compare_same_kind(walk: _Walk, reader: Node, writer: Node, path: str) -> list[Incompatibility]:
    kind = reader["type"]
    if kind in _RECORDS:
        return _compare_records(walk, reader, writer, path)
    if kind == "enum":
        return _name_problems(walk, reader, writer, path) or _enum_problems(
            walk, reader, writer, path
        )
    if kind == "fixed":
        return _name_problems(walk, reader, writer, path) or (
            _fixed_size_problems(walk, reader, writer, path)
            + _decimal_problems(walk, reader, writer, path)
        )
    if kind == "array":
        return _compare(walk, reader["items"], writer["items"], f"{path}[]")
    if kind == "map":
        return _compare(walk, reader["values"], writer["values"], f"{path}{{}}")
    return _decimal_problems(walk, reader, writer, path)


def _compare_records(walk: _Walk, reader: Node, writer: Node, path: str) -> list[Incompatibility]:
    name_problems = _name_problems(walk, reader, writer, path)
    if name_problems:
        return name_problems
    pair = (reader["name"], writer["name"])
    if pair in walk.in_progress:
        return []  # already being compared further up: a recursive type
    walk.in_progress.add(pair)
    try:
        return _compare_fields(walk, reader, writer, path)
    finally:
        walk.in_progress.discard(pair)


def _compare_fields(walk: _Walk, reader: Node, writer: Node, path: str) -> list[Incompatibility]:
    writer_fields = {f["name"]: f for f in writer["fields"]}
    matched: set[str] = set()
    missing: list[Node] = []
    problems: list[Incompatibility] = []
    for reader_field in reader["fields"]:
        writer_field = _writer_field(reader_field, writer_fields)
        if writer_field is None:
            missing.append(reader_field)
            continue
        matched.add(writer_field["name"])
        problems += _compare(
            walk, reader_field["type"], writer_field["type"], f"{path}.{reader_field['name']}"
        )
    unread = [name for name in writer_fields if name not in matched]
    for reader_field in missing:
        if "default" not in reader_field:
            problems.append(_missing_default(walk, reader_field, unread, path))
    return problems


def _writer_field(reader_field: Node, writer_fields: dict[str, Node]) -> Node | None:
    for name in [reader_field["name"], *reader_field["aliases"]]:
        if name in writer_fields:
            return writer_fields[name]
    return None


def _missing_default(
    walk: _Walk, reader_field: Node, unread: list[str], path: str
) -> Incompatibility:
    roles = walk.roles
    name = reader_field["name"]
    example = _default_example(reader_field["type"], walk.reader_names)
    return Incompatibility(
        f"{path}.{name}",
        "READER_FIELD_MISSING_DEFAULT",
        f"field {name!r} is in {roles.reader} but not in {roles.writer} and has no default: "
        f"{roles.reader} cannot fill it when reading data written with {roles.writer}; "
        + _fix(
            roles,
            reader_new=f'add "default": {example} to the field',
            writer_new=f"keep field {name!r} in the new schema, consumers on {roles.reader} "
            "require it",
            neither=f'give the reader field a default ("default": {example})',
        )
        + "."
        + _rename_hint(roles, unread),
    )


def _rename_hint(roles: _Roles, unread: list[str]) -> str:
    if not unread:
        return ""
    if roles.new_side == "writer":
        # only reader aliases take part in resolution, so old readers never see a renamed field
        return (
            f" If {unread[0]!r} is its new name: a rename breaks consumers on {roles.reader} "
            "even with aliases; add the new field and keep the old one"
        )
    return (
        f" If it is a rename of {', '.join(repr(u) for u in unread)}, add "
        f'"aliases": ["{unread[0]}"] to the field.'
    )


def _enum_problems(walk: _Walk, reader: Node, writer: Node, path: str) -> list[Incompatibility]:
    known = set(reader.get("symbols", []))
    unknown = [s for s in writer.get("symbols", []) if s not in known]
    if not unknown or "default" in reader:
        return []
    roles = walk.roles
    enum = _simple(reader["name"])
    return [
        Incompatibility(
            path,
            "MISSING_ENUM_SYMBOL",
            f"{roles.writer} can write symbols {unknown} of enum {enum!r} that {roles.reader} "
            'does not have, and the reader\'s enum has no "default" to fall back on; '
            + _fix(
                roles,
                reader_new=f"keep the symbols {unknown} in the new schema",
                writer_new=f"do not add symbols to enum {enum!r} until every consumer's version "
                'of it has a "default" (for example "UNKNOWN")',
                neither=f'give the reader\'s enum {enum!r} a "default" symbol',
            ),
        )
    ]


def _fixed_size_problems(
    walk: _Walk, reader: Node, writer: Node, path: str
) -> list[Incompatibility]:
    if reader.get("size") == writer.get("size"):
        return []
    return [
        Incompatibility(
            path,
            "FIXED_SIZE_MISMATCH",
            f"fixed {_simple(reader['name'])!r} is {writer.get('size')} bytes in "
            f"{walk.roles.writer} but {reader.get('size')} bytes in {walk.roles.reader}; a "
            "fixed size cannot change, add a new field with the new size instead",
        )
    ]


def _decimal_problems(walk: _Walk, reader: Node, writer: Node, path: str) -> list[Incompatibility]:
    if reader.get("logicalType") != "decimal" or writer.get("logicalType") != "decimal":
        return []
    if _decimal_shape(reader) == _decimal_shape(writer):
        return []
    return [
        Incompatibility(
            path,
            "DECIMAL_MISMATCH",
            f"{walk.roles.writer} writes {_describe(writer)} but {walk.roles.reader} reads "
            f"{_describe(reader)}: the unscaled digits would be read with another scale or "
            "precision (1.50 could read as 0.150); keep precision and scale, or add a new field",
        )
    ]


def _decimal_shape(node: Node) -> tuple[Any, Any]:
    return node.get("precision"), node.get("scale", 0)


def _name_problems(walk: _Walk, reader: Node, writer: Node, path: str) -> list[Incompatibility]:
    if _names_match(reader, writer):
        return []
    return [
        Incompatibility(
            path,
            "NAME_MISMATCH",
            f"{walk.roles.writer} writes {_describe(writer)} but {walk.roles.reader} expects "
            f'{_describe(reader)}; keep the name, or list "{writer["name"]}" in the '
            'reader type\'s "aliases"',
        )
    ]


def _type_mismatch(walk: _Walk, reader: Node, writer: Node, path: str) -> Incompatibility:
    return Incompatibility(
        path,
        "TYPE_MISMATCH",
        f"{walk.roles.writer} writes {_describe(writer)} where {walk.roles.reader} expects "
        f"{_describe(reader)}; {_PROMOTIONS_TEXT}. Add a new field instead of changing the type",
    )


# ---------------------------------------------------------------------------------------------
# small pure pieces


def _resolve(node: Node, names: dict[str, Node]) -> Node:
    return names[node["name"]] if node["type"] == "reference" else node


def _names_match(reader: Node, writer: Node) -> bool:
    # the spec compares unqualified names; aliases are compared the same way
    written = _simple(writer["name"])
    return _simple(reader["name"]) == written or any(
        alias == writer["name"] or _simple(alias) == written for alias in reader["aliases"]
    )


def _same_kind_and_name(reader: Node, writer: Node) -> bool:
    if reader["type"] != writer["type"]:
        return False
    return reader["type"] not in _NAMED or _names_match(reader, writer)


def _simple(name: str) -> str:
    return name.rpartition(".")[2]


def _fix(roles: _Roles, *, reader_new: str, writer_new: str, neither: str) -> str:
    """The remedy depends on which side is the schema being proposed."""
    if roles.new_side == "reader":
        return reader_new
    if roles.new_side == "writer":
        return writer_new
    return neither


def _describe(node: Node) -> str:
    kind = node["type"]
    if kind == "reference":
        return repr(node["name"])
    if kind == "union":
        return "union [" + ", ".join(_describe(b) for b in node["branches"]) + "]"
    if kind in _NAMED:
        described = f"{kind} {node['name']!r}"
    elif kind == "array":
        described = f"array of {_describe(node['items'])}"
    elif kind == "map":
        described = f"map of {_describe(node['values'])}"
    else:
        described = kind
    return described + _describe_logical(node)


def _describe_logical(node: Node) -> str:
    logical = node.get("logicalType")
    if logical == "decimal":
        precision, scale = _decimal_shape(node)
        return f" decimal({precision},{scale})"
    return f" ({logical})" if logical else ""


def _default_example(node: Node, names: dict[str, Node]) -> str:
    node = _resolve(node, names)
    kind = node["type"]
    if kind == "union":
        return _default_example(node["branches"][0], names)
    examples = {
        "null": "null",
        "boolean": "false",
        "int": "0",
        "long": "0",
        "float": "0.0",
        "double": "0.0",
        "string": '""',
        "bytes": '""',
        "array": "[]",
        "map": "{}",
        "record": "{...}",
        "error": "{...}",
    }
    if kind == "enum":
        return f'"{node.get("default", (node.get("symbols") or ["..."])[0])}"'
    return examples.get(kind, "<a value of the field's type>")
