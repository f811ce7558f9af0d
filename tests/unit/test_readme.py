"""The README stays true: it names every topic, every setting and the two commands."""

from __future__ import annotations

from pathlib import Path

from backbone.settings import Settings
from backbone.topics import CATALOG

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_lists_every_catalog_topic() -> None:
    missing = [t.name for t in CATALOG if f"`{t.name}`" not in README]
    assert missing == []


def test_readme_documents_every_setting() -> None:
    ecosystem = {"kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
                 "schema_registry_url": "SCHEMA_REGISTRY_URL",
                 "schema_registry_basic_auth_user_info": "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"}
    names = [ecosystem.get(name, f"BACKBONE_{name.upper()}") for name in Settings.model_fields]
    assert [name for name in names if f"`{name}`" not in README] == []


def test_readme_gives_the_two_commands() -> None:
    assert "make demo" in README and "make test" in README
