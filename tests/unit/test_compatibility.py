"""Avro schema resolution rules: what can read what, and the explanation when it cannot."""

from __future__ import annotations

from typing import Any

import pytest

from backbone.compatibility import (
    Incompatibility,
    InvalidSchemaError,
    can_read,
    check,
)

NS = "com.acme"


def record(name: str, *fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": NS, "fields": list(fields), **extra}


def field(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def enum(symbols: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": "OrderStatus", "symbols": symbols, **extra}


def decimal(precision: int, scale: int) -> dict[str, Any]:
    return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}


def order(*fields: dict[str, Any]) -> dict[str, Any]:
    return record("Order", field("id", "string"), *fields)


def rules(problems: list[Incompatibility]) -> list[str]:
    return [p.rule for p in problems]


def only(problems: list[Incompatibility]) -> Incompatibility:
    assert len(problems) == 1, problems
    return problems[0]


# --- primitives and promotions ---------------------------------------------------------------


def test_identical_schemas_are_compatible() -> None:
    schema = order(field("qty", "int"), field("tags", {"type": "array", "items": "string"}))
    assert can_read(schema, schema) == []


@pytest.mark.parametrize(
    ("writer", "reader"),
    [
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    ],
)
def test_promotion_lets_reader_read_narrower_writer(writer: str, reader: str) -> None:
    assert can_read(order(field("v", reader)), order(field("v", writer))) == []


@pytest.mark.parametrize(
    ("writer", "reader"),
    [
        ("long", "int"),
        ("float", "int"),
        ("double", "float"),
        ("double", "long"),
        ("float", "long"),
        ("int", "string"),
        ("string", "int"),
        ("boolean", "int"),
        ("null", "string"),
    ],
)
def test_no_promotion_in_the_other_direction(writer: str, reader: str) -> None:
    problem = only(can_read(order(field("v", reader)), order(field("v", writer))))
    assert problem.rule == "TYPE_MISMATCH"
    assert problem.path == "Order.v"
    assert writer in problem.message and reader in problem.message


def test_int_to_string_change_is_explained() -> None:
    problem = only(can_read(order(field("qty", "string")), order(field("qty", "int"))))
    assert problem.rule == "TYPE_MISMATCH"
    assert "writes int where the reader schema expects string" in problem.message


def test_widening_int_to_long_is_backward_but_not_forward_compatible() -> None:
    old, new = order(field("qty", "int")), order(field("qty", "long"))
    assert check(new, [old], "BACKWARD") == []
    problem = only(check(new, [old], "FORWARD"))
    assert problem.rule == "TYPE_MISMATCH"
    assert (
        problem.direction == "consumers on version 1 cannot read data written with the new schema"
    )


def test_narrowing_double_to_float_is_forward_but_not_backward_compatible() -> None:
    old, new = order(field("price", "double")), order(field("price", "float"))
    assert check(new, [old], "FORWARD") == []
    problem = only(check(new, [old], "BACKWARD"))
    assert problem.direction == "the new schema cannot read data written with version 1"


# --- records and fields ----------------------------------------------------------------------


def test_added_field_without_default_cannot_read_old_data() -> None:
    problem = only(can_read(order(field("currency", "string")), order()))
    assert problem.rule == "READER_FIELD_MISSING_DEFAULT"
    assert problem.path == "Order.currency"
    assert "'currency'" in problem.message and '"default"' in problem.message


@pytest.mark.parametrize("default", [None, "", "EUR"])
def test_added_field_with_default_reads_old_data(default: Any) -> None:
    added = field("currency", ["null", "string"] if default is None else "string", default=default)
    assert can_read(order(added), order()) == []


def test_removed_field_is_skipped_by_reader() -> None:
    assert can_read(order(), order(field("legacy_code", "string"))) == []


def test_adding_field_without_default_suggests_a_default_in_backward_direction() -> None:
    problem = only(check(order(field("qty", "int")), [order()], "BACKWARD"))
    assert 'add "default": 0 to the field' in problem.message


def test_removing_a_required_field_breaks_old_consumers() -> None:
    problem = only(check(order(), [order(field("qty", "int"))], "FORWARD"))
    assert problem.rule == "READER_FIELD_MISSING_DEFAULT"
    assert "keep field 'qty' in the new schema" in problem.message


def test_field_rename_without_alias_is_a_missing_field_with_a_rename_hint() -> None:
    problem = only(can_read(order(field("quantity", "int")), order(field("qty", "int"))))
    assert problem.rule == "READER_FIELD_MISSING_DEFAULT"
    assert problem.path == "Order.quantity"
    assert '"aliases": ["qty"]' in problem.message


def test_field_rename_with_reader_alias_is_backward_compatible() -> None:
    new = order(field("quantity", "int", aliases=["qty"]))
    assert check(new, [order(field("qty", "int"))], "BACKWARD") == []


def test_field_rename_with_alias_still_breaks_old_consumers() -> None:
    new = order(field("quantity", "int", aliases=["qty"]))
    problem = only(check(new, [order(field("qty", "int"))], "FORWARD"))
    assert problem.path == "Order.qty"
    assert "rename breaks consumers" in problem.message


def test_nested_record_change_names_the_full_path() -> None:
    def ship_to(zip_type: str) -> dict[str, Any]:
        return {"type": "record", "name": "Address", "fields": [field("zip", zip_type)]}

    problems = can_read(
        order(field("ship_to", ship_to("int"))), order(field("ship_to", ship_to("string")))
    )
    assert [(p.path, p.rule) for p in problems] == [("Order.ship_to.zip", "TYPE_MISMATCH")]


def test_array_of_records_path_marks_the_items() -> None:
    def event(qty_type: str) -> dict[str, Any]:
        line = {"type": "record", "name": "Line", "fields": [field("ordered_qty", qty_type)]}
        return record("PurchaseOrderChanged", field("lines", {"type": "array", "items": line}))

    problem = only(can_read(event("string"), event("int")))
    assert problem.path == "PurchaseOrderChanged.lines[].ordered_qty"
    assert problem.rule == "TYPE_MISMATCH"


def test_array_items_may_be_promoted() -> None:
    def schema(item: str) -> dict[str, Any]:
        return order(field("sizes", {"type": "array", "items": item}))

    assert can_read(schema("long"), schema("int")) == []
    assert rules(can_read(schema("int"), schema("long"))) == ["TYPE_MISMATCH"]


def test_map_values_are_compared() -> None:
    def schema(value: str) -> dict[str, Any]:
        return order(field("attrs", {"type": "map", "values": value}))

    problem = only(can_read(schema("int"), schema("string")))
    assert problem.path == "Order.attrs{}"


def test_array_is_not_a_map() -> None:
    reader = order(field("x", {"type": "array", "items": "string"}))
    writer = order(field("x", {"type": "map", "values": "string"}))
    assert rules(can_read(reader, writer)) == ["TYPE_MISMATCH"]


def test_record_name_must_match() -> None:
    problem = only(can_read(record("Invoice"), record("Order")))
    assert problem.rule == "NAME_MISMATCH"
    assert "com.acme.Order" in problem.message


def test_record_alias_accepts_the_old_name() -> None:
    assert can_read(record("Invoice", aliases=["Order"]), record("Order")) == []
    assert can_read(record("Invoice", aliases=["com.acme.Order"]), record("Order")) == []


def test_record_names_compare_unqualified() -> None:
    moved = {**record("Order"), "namespace": "com.acme.v2"}
    assert can_read(moved, record("Order")) == []


# --- enums -----------------------------------------------------------------------------------


def with_status(status: dict[str, Any]) -> dict[str, Any]:
    return order(field("status", status))


def test_enum_symbol_removed_without_default_is_incompatible() -> None:
    problem = only(
        can_read(
            with_status(enum(["OPEN", "SHIPPED"])), with_status(enum(["OPEN", "SHIPPED", "LOST"]))
        )
    )
    assert problem.rule == "MISSING_ENUM_SYMBOL"
    assert problem.path == "Order.status"
    assert "LOST" in problem.message


def test_enum_with_default_reads_unknown_symbols() -> None:
    reader = with_status(enum(["UNKNOWN", "OPEN"], default="UNKNOWN"))
    assert can_read(reader, with_status(enum(["UNKNOWN", "OPEN", "LOST"]))) == []


def test_enum_gaining_a_symbol_breaks_consumers_without_a_default() -> None:
    old, new = with_status(enum(["OPEN"])), with_status(enum(["OPEN", "LOST"]))
    assert check(new, [old], "BACKWARD") == []
    problem = only(check(new, [old], "FORWARD"))
    assert problem.rule == "MISSING_ENUM_SYMBOL"
    assert "do not add symbols" in problem.message


def test_enum_with_default_may_gain_and_lose_symbols_under_full_transitive() -> None:
    v1 = with_status(enum(["UNKNOWN", "OPEN", "HELD"], default="UNKNOWN"))
    v2 = with_status(enum(["UNKNOWN", "OPEN", "HELD", "LOST"], default="UNKNOWN"))
    new = with_status(enum(["UNKNOWN", "OPEN", "LOST"], default="UNKNOWN"))
    assert check(new, [v1, v2], "FULL_TRANSITIVE") == []


def test_enum_removing_symbol_without_default_fails_backward() -> None:
    old, new = with_status(enum(["OPEN", "LOST"])), with_status(enum(["OPEN"]))
    assert check(new, [old], "FORWARD") == []
    assert rules(check(new, [old], "BACKWARD")) == ["MISSING_ENUM_SYMBOL"]


def test_enum_name_must_match() -> None:
    renamed = {**enum(["OPEN"]), "name": "Status"}
    assert rules(can_read(with_status(renamed), with_status(enum(["OPEN"])))) == ["NAME_MISMATCH"]


# --- fixed -----------------------------------------------------------------------------------


def fixed(size: int, name: str = "Md5", **extra: Any) -> dict[str, Any]:
    return order(field("digest", {"type": "fixed", "name": name, "size": size, **extra}))


def test_fixed_same_size_and_name_is_compatible() -> None:
    assert can_read(fixed(16), fixed(16)) == []


def test_fixed_size_change_is_incompatible() -> None:
    problem = only(can_read(fixed(32), fixed(16)))
    assert problem.rule == "FIXED_SIZE_MISMATCH"
    assert "16 bytes" in problem.message and "32 bytes" in problem.message


def test_fixed_name_change_is_incompatible() -> None:
    assert rules(can_read(fixed(16, "Sha"), fixed(16))) == ["NAME_MISMATCH"]


# --- unions ----------------------------------------------------------------------------------


def test_reader_union_reads_a_matching_writer_type() -> None:
    assert can_read(order(field("note", ["null", "string"])), order(field("note", "string"))) == []


def test_reader_union_branch_may_promote() -> None:
    assert can_read(order(field("n", ["null", "long"])), order(field("n", "int"))) == []


def test_reader_union_without_matching_branch() -> None:
    problem = only(can_read(order(field("n", ["null", "string"])), order(field("n", "int"))))
    assert problem.rule == "MISSING_UNION_BRANCH"
    assert "int" in problem.message and "union [null, string]" in problem.message


def test_writer_union_needs_every_branch_readable() -> None:
    problem = only(can_read(order(field("n", "string")), order(field("n", ["null", "string"]))))
    assert problem.rule == "TYPE_MISMATCH"
    assert "writes null" in problem.message


def test_making_a_field_optional_is_backward_only() -> None:
    old = order(field("note", "string"))
    new = order(field("note", ["null", "string"], default=None))
    assert check(new, [old], "BACKWARD") == []
    assert rules(check(new, [old], "FORWARD")) == ["TYPE_MISMATCH"]


def test_writer_union_gaining_a_branch_the_reader_union_lacks() -> None:
    reader = order(field("v", ["null", "string"]))
    writer = order(field("v", ["null", "string", "boolean"]))
    problem = only(can_read(reader, writer))
    assert problem.rule == "MISSING_UNION_BRANCH"
    assert "boolean" in problem.message


def test_union_reordering_is_compatible() -> None:
    assert (
        can_read(order(field("v", ["string", "null"])), order(field("v", ["null", "string"]))) == []
    )


def test_union_branch_record_explains_its_own_problem() -> None:
    def schema(*extra: dict[str, Any]) -> dict[str, Any]:
        address = {"type": "record", "name": "Address", "fields": [field("zip", "string"), *extra]}
        return order(field("ship_to", ["null", address], default=None))

    problem = only(can_read(schema(field("country", "string")), schema()))
    assert problem.rule == "READER_FIELD_MISSING_DEFAULT"
    assert problem.path == "Order.ship_to.country"


# --- logical types ---------------------------------------------------------------------------


def test_decimal_same_precision_and_scale_is_compatible() -> None:
    assert (
        can_read(order(field("amount", decimal(12, 2))), order(field("amount", decimal(12, 2))))
        == []
    )


@pytest.mark.parametrize(("reader", "writer"), [((12, 3), (12, 2)), ((14, 2), (12, 2))])
def test_decimal_scale_or_precision_change_is_incompatible(
    reader: tuple[int, int], writer: tuple[int, int]
) -> None:
    problem = only(
        can_read(order(field("amount", decimal(*reader))), order(field("amount", decimal(*writer))))
    )
    assert problem.rule == "DECIMAL_MISMATCH"
    assert problem.path == "Order.amount"
    assert f"decimal({writer[0]},{writer[1]})" in problem.message


def test_decimal_missing_scale_means_zero() -> None:
    no_scale = {"type": "bytes", "logicalType": "decimal", "precision": 9}
    assert can_read(order(field("a", no_scale)), order(field("a", decimal(9, 0)))) == []


def test_decimal_on_fixed_scale_change_is_incompatible() -> None:
    def schema(scale: int) -> dict[str, Any]:
        amount = {"type": "fixed", "name": "Amount", "size": 8, "logicalType": "decimal"}
        return order(field("amount", {**amount, "precision": 18, "scale": scale}))

    assert rules(can_read(schema(4), schema(2))) == ["DECIMAL_MISMATCH"]


def test_other_logical_types_follow_the_underlying_type() -> None:
    millis = {"type": "long", "logicalType": "timestamp-millis"}
    date = {"type": "int", "logicalType": "date"}
    assert can_read(order(field("t", millis)), order(field("t", "long"))) == []
    assert can_read(order(field("t", "long")), order(field("t", date))) == []
    assert rules(can_read(order(field("t", date)), order(field("t", millis)))) == ["TYPE_MISMATCH"]


# --- named type references -------------------------------------------------------------------


def two_addresses(zip_type: str, second_ref: str) -> dict[str, Any]:
    address = {"type": "record", "name": "Address", "fields": [field("zip", zip_type)]}
    return order(field("bill_to", address), field("ship_to", second_ref))


@pytest.mark.parametrize("reference", ["Address", "com.acme.Address"])
def test_reference_by_short_or_full_name_resolves_to_the_definition(reference: str) -> None:
    problems = can_read(two_addresses("int", reference), two_addresses("string", "Address"))
    assert [p.path for p in problems] == ["Order.bill_to.zip", "Order.ship_to.zip"]


def test_nested_type_inherits_the_enclosing_namespace() -> None:
    writer = two_addresses("string", "com.acme.Address")
    assert can_read(writer, writer) == []


def test_reference_to_an_undefined_type_is_an_invalid_schema() -> None:
    with pytest.raises(InvalidSchemaError, match="'Money'"):
        can_read(order(field("price", "Money")), order())


def test_recursive_record_terminates_and_still_finds_changes() -> None:
    def node(value_type: str) -> dict[str, Any]:
        return record(
            "Node", field("value", value_type), field("next", ["null", "Node"], default=None)
        )

    assert can_read(node("long"), node("int")) == []
    assert [p.path for p in can_read(node("int"), node("long"))] == ["Node.value"]


def test_top_level_primitive_schemas() -> None:
    assert can_read("long", "int") == []
    assert only(can_read("int", "string")).path == "<root>"


# --- modes -----------------------------------------------------------------------------------


V1 = order()
V2 = order(field("note", "string", default=""))
NEW_NOTE_REQUIRED = order(field("note", "string"))


def test_backward_compares_only_with_the_latest_version() -> None:
    assert check(NEW_NOTE_REQUIRED, [V1, V2], "BACKWARD") == []


def test_backward_transitive_compares_with_every_version() -> None:
    problem = only(check(NEW_NOTE_REQUIRED, [V1, V2], "BACKWARD_TRANSITIVE"))
    assert problem.direction == "the new schema cannot read data written with version 1"
    assert problem.path == "Order.note"


def test_forward_transitive_finds_old_consumers_that_need_a_removed_field() -> None:
    v1 = order(field("code", "string"))
    v2 = order(field("code", "string", default=""))
    new = order()
    assert check(new, [v1, v2], "FORWARD") == []
    problem = only(check(new, [v1, v2], "FORWARD_TRANSITIVE"))
    assert (
        problem.direction == "consumers on version 1 cannot read data written with the new schema"
    )


def test_full_reports_both_directions() -> None:
    old = order(field("qty", "int"), field("status", enum(["OPEN", "LOST"])))
    new = order(field("qty", "long"), field("status", enum(["OPEN"])))
    directions = {p.direction for p in check(new, [old], "FULL")}
    assert directions == {
        "the new schema cannot read data written with version 1",
        "consumers on version 1 cannot read data written with the new schema",
    }


def test_none_accepts_anything_and_no_history_passes() -> None:
    assert check(order(field("x", "int")), [order(field("x", "string"))], "NONE") == []
    assert check(order(field("x", "int")), [], "FULL_TRANSITIVE") == []


def test_mode_is_case_insensitive_and_validated() -> None:
    assert rules(check(NEW_NOTE_REQUIRED, [V1], "backward")) == ["READER_FIELD_MISSING_DEFAULT"]
    with pytest.raises(ValueError, match="unknown compatibility mode 'SIDEWAYS'"):
        check(V1, [V1], "SIDEWAYS")


def test_labels_name_the_previous_versions() -> None:
    problem = only(check(NEW_NOTE_REQUIRED, [V1], "BACKWARD", labels=["HEAD"]))
    assert problem.direction == "the new schema cannot read data written with HEAD"
    assert "not in HEAD" in problem.message
    assert str(problem).startswith("Order.note [READER_FIELD_MISSING_DEFAULT] the new schema")
