"""`backbone sink iceberg` and `backbone query` refuse unusable options with one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sinks.iceberg.cli import app, query

runner = CliRunner()


def _backbone() -> typer.Typer:
    """The two commands as the `backbone` entry points mount them."""
    root = typer.Typer()
    root.add_typer(app, name="sink")
    root.command("query")(query)
    return root


def test_an_unreachable_rest_catalog_is_named_and_its_token_never_shown(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BACKBONE_ICEBERG_CATALOG_TOKEN", "tok-very-secret-123")
    monkeypatch.setenv("BACKBONE_STATE_DIR", str(tmp_path))
    result = runner.invoke(_backbone(), ["query", "--tables", "--catalog", "http://127.0.0.1:9/api"])
    assert result.exit_code == 2
    assert "Iceberg catalog http://127.0.0.1:9/api: cannot open it" in result.output
    assert "tok-very-secret-123" not in result.output


def test_a_query_naming_no_table_lists_the_tables(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("BACKBONE_STATE_DIR", str(tmp_path))
    result = runner.invoke(_backbone(), ["query", "SELECT * FROM order_lines"])
    assert result.exit_code == 2
    assert "order_lines" in result.output and "tables: none yet" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["iceberg", "--once", "--until-idle", "5"], "exclude each other"),
    (["iceberg", "--topics", "edi-x12.dlq.v1"], "carries bytes, not canonical Avro"),
    (["iceberg", "--topics", "inventory.position.v1", "--topics", "no.such.topic.v1"],
     "no.such.topic.v1"),
    (["iceberg", "--until-idle", "-1"], ">= 0"),
])
def test_unusable_sink_options_are_refused(args: list[str], message: str) -> None:
    result = runner.invoke(_backbone(), ["sink", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_cleaning_a_catalog_the_sink_never_wrote_to_finds_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BACKBONE_STATE_DIR", str(tmp_path))
    result = runner.invoke(_backbone(), ["sink", "iceberg", "--clean-orphans", "--older-than",
                                         "0"])
    assert result.exit_code == 0, result.output
    assert result.output == ""
