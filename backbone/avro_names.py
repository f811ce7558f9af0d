"""Avro named types across files: one resolver for the runtime loader and the offline gate.

Every named type (record, error, enum, fixed) lives in its own file ``<full name>.avsc``.
:class:`NameResolver` turns one schema into a self-contained one: a referenced type is inlined
at its first use, with its full name in ``name`` (no ``namespace``), and every later use stays a
reference by full name, the form the schema registry and ``fastavro.parse_schema`` accept. The
rules, the same for backbone/schemas.py (what the processes run) and backbone/schema_gate.py
(what ``backbone schemas check`` compares), so the two can never disagree about a file:

- a dotted name is full; a bare name is looked up in the enclosing namespace first, then as
  written (a type in no namespace);
- a file must declare the full name it is named after;
- a type defined twice is refused (reference it by name instead);
- recursive types are refused: deeply nested data can exhaust the decoder's stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})

# full name -> the parsed file defining it, or None when there is no such file
Lookup = Callable[[str], Any]


def full_name_of(schema: dict[str, Any], enclosing_namespace: str) -> str:
    """The full name of a named type per the Avro spec: a dotted name is already full;
    otherwise its own ``namespace`` (``""`` meaning none) or else the enclosing one applies."""
    name = str(schema.get("name", ""))
    if "." in name:
        return name
    space = schema.get("namespace")
    space = enclosing_namespace if space is None else space
    return f"{space}.{name}" if space else name


class NameResolver:
    """Inlines named types from their files, once each; ``error`` is raised for bad input."""

    def __init__(self, lookup: Lookup, where: str, error: type[ValueError] = ValueError) -> None:
        self._lookup = lookup
        self._where = where
        self._error = error
        self._defined: set[str] = set()

    def named(self, full_name: str) -> Any:
        """The named type ``full_name``, from its file, made self-contained."""
        return self._reference(full_name, "", ())

    def _schema(self, schema: Any, namespace: str, chain: tuple[str, ...]) -> Any:
        if isinstance(schema, list):
            return [self._schema(branch, namespace, chain) for branch in schema]
        if isinstance(schema, str):
            return self._reference(schema, namespace, chain)
        if not isinstance(schema, dict):
            raise self._error(f"{self._where}: {schema!r} is not an Avro type")
        kind = schema.get("type")
        if kind in NAMED:
            return self._definition(schema, namespace, chain)
        out = dict(schema)
        if kind == "array" and "items" in schema:
            out["items"] = self._schema(schema["items"], namespace, chain)
        elif kind == "map" and "values" in schema:
            out["values"] = self._schema(schema["values"], namespace, chain)
        elif isinstance(kind, list | dict) or (isinstance(kind, str) and kind not in PRIMITIVES
                                               and kind not in ("array", "map")):
            out["type"] = self._schema(kind, namespace, chain)
        return out

    def _reference(self, name: str, namespace: str, chain: tuple[str, ...]) -> Any:
        if name in PRIMITIVES:
            return name
        candidates = [name] if "." in name or not namespace else [f"{namespace}.{name}", name]
        for full in candidates:
            if full in chain:
                cycle = " -> ".join((*chain[chain.index(full):], full))
                raise self._error(
                    f"{self._where}: schema type {full} is recursive ({cycle}); recursive types "
                    "are refused because deeply nested data can exhaust the decoder's stack")
            if full in self._defined:
                return full
        for full in candidates:
            found = self._lookup(full)
            if found is not None:
                if not isinstance(found, dict) or found.get("type") not in NAMED:
                    raise self._error(f"{self._where}: {full}.avsc must hold one named type "
                                      "(record, enum or fixed)")
                declared = full_name_of(found, "")
                if declared != full:
                    raise self._error(f"{self._where}: {full}.avsc declares {declared}; the "
                                      "file name must be the full name")
                return self._definition(found, "", chain)
        files = " or ".join(f"{full}.avsc" for full in candidates)
        raise self._error(
            f"{self._where}: type {name!r}: named type {candidates[0]} is referenced but no file "
            f"defines it (looked for {files}); every named type needs its own file named "
            "<full name>.avsc")

    def _definition(self, schema: dict[str, Any], namespace: str, chain: tuple[str, ...]) -> Any:
        full = full_name_of(schema, namespace)
        if full in chain:
            raise self._error(
                f"{self._where}: schema type {full} is recursive (defined inside itself)")
        if full in self._defined:
            raise self._error(
                f"{self._where}: schema type {full} is defined twice; reference it by name")
        self._defined.add(full)
        out = {key: value for key, value in schema.items() if key != "namespace"}
        out["name"] = full
        if schema["type"] in ("record", "error"):
            inner = full.rpartition(".")[0]
            out["fields"] = [
                {**field, "type": self._schema(field.get("type"), inner, (*chain, full))}
                if isinstance(field, dict) else field
                for field in schema.get("fields", [])
            ]
        return out
