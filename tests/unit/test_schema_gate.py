"""The offline schema gate against a real temporary git repository."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backbone import schemas
from backbone.schema_gate import (
    SchemaGateError,
    SchemaLoadError,
    committed_schema_texts,
    expand_schema,
    gate,
    working_tree_texts,
)

STATUS_FILE = "com.acme.OrderStatus.avsc"
ORDER_FILE = "com.acme.OrderChanged.avsc"

STATUS = {
    "type": "enum",
    "name": "OrderStatus",
    "namespace": "com.acme",
    "symbols": ["OPEN", "SHIPPED", "CANCELLED"],
}


def order_changed(*extra_fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "OrderChanged",
        "namespace": "com.acme",
        "fields": [
            {"name": "order_id", "type": "string"},
            {"name": "status", "type": "OrderStatus"},
            *extra_fields,
        ],
    }


class Repo:
    """A throwaway git repository with a schemas/ directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.schemas = root / "schemas"
        self.schemas.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet")

    def git(self, *args: str) -> str:
        # isolated from the machine's git configuration so the test runs anywhere
        env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
        identity = ["-c", "user.name=Backbone Tests", "-c", "user.email=tests@backbone.invalid"]
        result = subprocess.run(
            ["git", *identity, "-c", "commit.gpgsign=false", "-C", str(self.root), *args],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        return result.stdout.strip()

    def write(self, name: str, schema: Any) -> None:
        (self.schemas / name).write_text(json.dumps(schema, indent=2), encoding="utf-8")

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "--quiet", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repository = Repo(tmp_path / "repo")
    repository.write(STATUS_FILE, STATUS)
    repository.write(ORDER_FILE, order_changed())
    repository.commit("publish order contracts")
    return repository


def problems_for(report_problems: list[str], file_name: str) -> list[str]:
    return [p for p in report_problems if p.startswith(f"{file_name}:")]


# --- the gate --------------------------------------------------------------------------------


def test_unchanged_schemas_pass(repo: Repo) -> None:
    report = gate(repo.schemas)
    assert report.ok, report.problems
    assert report.checked == 2


def test_optional_field_with_default_passes(repo: Repo) -> None:
    repo.write(
        ORDER_FILE, order_changed({"name": "note", "type": ["null", "string"], "default": None})
    )
    report = gate(repo.schemas)
    assert report.ok, report.problems


def test_field_without_default_is_reported_with_path_and_rule(repo: Repo) -> None:
    repo.write(ORDER_FILE, order_changed({"name": "currency", "type": "string"}))
    report = gate(repo.schemas)
    assert not report.ok
    (problem,) = report.problems
    assert problem.startswith(f"{ORDER_FILE}: OrderChanged.currency: READER_FIELD_MISSING_DEFAULT:")
    assert "the new schema cannot read data written with the version at HEAD" in problem


def test_removed_enum_symbol_is_reported_in_the_file_and_where_it_is_referenced(repo: Repo) -> None:
    repo.write(STATUS_FILE, {**STATUS, "symbols": ["OPEN", "SHIPPED"]})
    report = gate(repo.schemas)
    assert not report.ok
    in_status = problems_for(report.problems, STATUS_FILE)
    in_order = problems_for(report.problems, ORDER_FILE)
    assert in_status and all("MISSING_ENUM_SYMBOL" in p for p in in_status)
    assert any("OrderChanged.status: MISSING_ENUM_SYMBOL" in p for p in in_order)
    assert "CANCELLED" in in_order[0]


def test_deleted_contract_is_reported(repo: Repo) -> None:
    (repo.schemas / STATUS_FILE).unlink()
    (repo.schemas / ORDER_FILE).unlink()
    report = gate(repo.schemas)
    assert not report.ok
    assert any(
        p.startswith(f"{ORDER_FILE}: CONTRACT_DELETED") and "published contract was deleted" in p
        for p in report.problems
    )


def test_new_file_is_a_new_subject_and_passes(repo: Repo) -> None:
    repo.write(
        "com.acme.Invoice.avsc",
        {"type": "record", "name": "Invoice", "namespace": "com.acme", "fields": []},
    )
    report = gate(repo.schemas)
    assert report.ok, report.problems
    assert report.checked == 2


def test_invalid_json_is_reported_naming_the_file(repo: Repo) -> None:
    (repo.schemas / ORDER_FILE).write_text("{not json", encoding="utf-8")
    report = gate(repo.schemas)
    assert any(
        p.startswith(f"{ORDER_FILE}: INVALID_SCHEMA") and "not valid JSON" in p
        for p in report.problems
    )


def test_against_an_older_ref(repo: Repo) -> None:
    repo.write(ORDER_FILE, order_changed({"name": "currency", "type": "string"}))
    repo.commit("break the contract")
    assert gate(repo.schemas, ref="HEAD", mode="FULL").ok
    assert not gate(repo.schemas, ref="HEAD~1", mode="FULL").ok
    # transitively HEAD's history still holds the version without the field
    assert not gate(repo.schemas, ref="HEAD").ok


def test_transitive_mode_checks_every_committed_version(repo: Repo) -> None:
    first = repo.git("rev-parse", "HEAD")
    code = {"name": "code", "type": "string"}
    repo.write(ORDER_FILE, order_changed(code))
    second = repo.commit("add code")
    repo.write(ORDER_FILE, order_changed({**code, "default": ""}))
    repo.commit("give code a default")
    repo.write(ORDER_FILE, order_changed())  # drops code again

    assert gate(repo.schemas, mode="FULL").ok
    report = gate(repo.schemas, mode="FULL_TRANSITIVE")
    assert not report.ok
    # the version at `second` needs `code`; the first version never had it
    (problem,) = report.problems
    assert f"consumers on the version at {second[:10]} cannot read" in problem
    assert "OrderChanged.code: READER_FIELD_MISSING_DEFAULT" in problem
    assert first[:10] not in problem


def test_transitive_history_ignores_versions_after_the_ref(repo: Repo) -> None:
    repo.write(ORDER_FILE, order_changed({"name": "code", "type": "string"}))
    repo.commit("add code")
    repo.write(ORDER_FILE, order_changed())
    repo.commit("drop code (breaking)")
    repo.write(ORDER_FILE, order_changed())
    assert not gate(repo.schemas, ref="HEAD").ok
    assert gate(repo.schemas, ref="HEAD~2").ok


# --- failures to run -------------------------------------------------------------------------


def test_unknown_ref_names_the_ref(repo: Repo) -> None:
    with pytest.raises(SchemaGateError, match="'release-9'"):
        gate(repo.schemas, ref="release-9")


def test_repository_without_commits_names_head(tmp_path: Path) -> None:
    empty = Repo(tmp_path / "empty")
    empty.write(STATUS_FILE, STATUS)
    with pytest.raises(SchemaGateError, match="'HEAD' does not name a commit"):
        gate(empty.schemas)


def test_directory_outside_git_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    with pytest.raises(SchemaGateError, match="not inside a git repository"):
        gate(tmp_path / "schemas")


def test_unknown_mode_is_rejected(repo: Repo) -> None:
    with pytest.raises(ValueError, match="unknown compatibility mode"):
        gate(repo.schemas, mode="LENIENT")


# --- loading ---------------------------------------------------------------------------------


def test_committed_schema_texts_reads_the_ref(repo: Repo) -> None:
    repo.write(STATUS_FILE, {**STATUS, "symbols": ["OPEN"]})
    texts = committed_schema_texts("HEAD", "schemas", repo.root)
    assert sorted(texts) == [ORDER_FILE, STATUS_FILE]
    assert json.loads(texts[STATUS_FILE]) == STATUS


def test_committed_schema_texts_without_the_directory_is_empty(repo: Repo) -> None:
    assert committed_schema_texts("HEAD", "contracts", repo.root) == {}


def test_expand_schema_inlines_the_sibling_once() -> None:
    schema = order_changed({"name": "previous_status", "type": "OrderStatus"})
    texts = {ORDER_FILE: json.dumps(schema), STATUS_FILE: json.dumps(STATUS)}
    expanded = expand_schema(ORDER_FILE, texts)
    types = [f["type"] for f in expanded["fields"]]
    # written with its full name, as the runtime loader writes it (backbone/avro_names.py)
    inlined = {key: value for key, value in STATUS.items() if key != "namespace"}
    assert types == ["string", {**inlined, "name": "com.acme.OrderStatus"},
                     "com.acme.OrderStatus"]


def test_expand_schema_keeps_a_sibling_without_namespace_in_its_own_namespace() -> None:
    flag = {"type": "enum", "name": "Flag", "symbols": ["ON"]}
    schema = {
        "type": "record",
        "name": "Thing",
        "namespace": "com.acme",
        "fields": [{"name": "f", "type": "Flag"}],
    }
    expanded = expand_schema(
        "com.acme.Thing.avsc",
        {"com.acme.Thing.avsc": json.dumps(schema), "Flag.avsc": json.dumps(flag)},
    )
    assert expanded["fields"][0]["type"] == flag  # "Flag", in no namespace


def test_expand_schema_names_a_missing_sibling() -> None:
    texts = {ORDER_FILE: json.dumps(order_changed())}
    with pytest.raises(SchemaLoadError, match=r"'OrderStatus'.*com\.acme\.OrderStatus\.avsc"):
        expand_schema(ORDER_FILE, texts)


def test_the_gate_and_the_runtime_loader_resolve_every_contract_alike() -> None:
    """One resolver (backbone/avro_names.py): the gate's expansion of each file in schemas/ is
    exactly what the processes load."""
    texts = working_tree_texts(schemas.SCHEMA_DIR)
    for record in schemas.event_records():
        assert expand_schema(f"{record}.avsc", texts) == schemas.load(record)


def test_the_gate_refuses_recursion_as_the_runtime_does() -> None:
    node = {"type": "record", "name": "Node", "namespace": "test",
            "fields": [{"name": "next", "type": ["null", "Node"]}]}
    with pytest.raises(SchemaLoadError, match=r"test\.Node is recursive"):
        expand_schema("test.Node.avsc", {"test.Node.avsc": json.dumps(node)})
