"""Raw carrier status codes to canonical meaning: the versioned tables in mappings/*.yaml plus
operator overrides (BACKBONE_STATUS_MAPPINGS). Pure: loading reads files, resolving reads nothing.

A raw status resolves to a `Resolution`: the milestone it proves (or none, for ETA,
appointment and information-only codes), whether it raises the exception condition, and the
reason group. A code no table knows raises UnknownCodeError; it is never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from backbone.errors import UnknownCodeError
from backbone.events.logistics import Milestone, RawStatus, RawStatusSource

MAPPINGS_DIR = Path(__file__).parent / "mappings"
NORMAL = "NORMAL"


class Attribute(StrEnum):
    """What a code that proves no progress updates instead."""

    ETA = "ETA"
    APPOINTMENT = "APPOINTMENT"
    INFO = "INFO"  # location pings and notices: history only


class MappingFileError(ValueError):
    """A mapping table or override file that cannot be used."""


@dataclass(frozen=True)
class StatusMeaning:
    """What one raw code means."""

    milestone: Milestone | None = None
    exception: bool = False
    reason_group: str | None = None
    attribute: Attribute | None = None


@dataclass(frozen=True)
class ReasonMeaning:
    """What one raw reason code (X12 AT702, aggregator status detail) means."""

    reason_group: str
    exception: bool


@dataclass(frozen=True)
class DescriptionRule:
    """A code whose meaning depends on its description (UPS out-for-delivery under type I)."""

    code: str
    pattern: re.Pattern[str]
    milestone: Milestone


@dataclass(frozen=True)
class Resolution:
    """The canonical meaning of one raw status."""

    milestone: Milestone | None
    exception: bool
    reason_group: str | None
    raw_reason: str | None
    attribute: Attribute | None = None

    @property
    def is_progress(self) -> bool:
        return self.milestone is not None


@dataclass(frozen=True)
class SourceTable:
    """The mapping table of one raw-status vocabulary."""

    source: RawStatusSource
    version: str
    codes: Mapping[str, StatusMeaning]
    reasons: Mapping[str, ReasonMeaning] = field(default_factory=dict)
    strict_reasons: bool = False
    description_rules: tuple[DescriptionRule, ...] = ()


@dataclass(frozen=True)
class StatusMappings:
    """Every source's table; `resolve` is the one question processors ask."""

    tables: Mapping[RawStatusSource, SourceTable]

    def versions(self) -> dict[str, str]:
        """Table version per source (overridden tables say so)."""
        return {source.value: table.version for source, table in self.tables.items()}

    def resolve(self, raw: RawStatus) -> Resolution:
        """The meaning of ``raw``; UnknownCodeError when its source or code is not mapped."""
        table = self.tables.get(raw.source)
        if table is None:
            raise UnknownCodeError(
                f"no status mapping table for source {raw.source.value} (code {raw.code!r}); "
                f"add one under processors/shipment_status/mappings or map the code in the "
                "file named by BACKBONE_STATUS_MAPPINGS"
            )
        meaning = _meaning(table, raw)
        reason = _reason(table, raw)
        if reason is not None and reason.exception:
            return Resolution(meaning.milestone, True, reason.reason_group, raw.reason_code,
                              meaning.attribute)
        return Resolution(
            meaning.milestone,
            meaning.exception,
            meaning.reason_group if meaning.exception else None,
            raw.reason_code,
            meaning.attribute,
        )


def _meaning(table: SourceTable, raw: RawStatus) -> StatusMeaning:
    if raw.reason_code:
        specific = table.codes.get(f"{raw.code}:{raw.reason_code}")
        if specific is not None:
            return specific
    for rule in table.description_rules:
        if rule.code == raw.code and raw.description and rule.pattern.search(raw.description):
            base = table.codes.get(raw.code, StatusMeaning())
            return StatusMeaning(rule.milestone, base.exception, base.reason_group)
    meaning = table.codes.get(raw.code)
    if meaning is None:
        raise UnknownCodeError(
            f"{raw.source.value} status code {raw.code!r}"
            + (f" (description {raw.description!r})" if raw.description else "")
            + " is not in mapping table "
            f"{raw.source.value.lower()} v{table.version}; map it in the file named by "
            "BACKBONE_STATUS_MAPPINGS, then replay the dead letter"
        )
    return meaning


def _reason(table: SourceTable, raw: RawStatus) -> ReasonMeaning | None:
    if not raw.reason_code or not table.reasons:
        return None
    reason = table.reasons.get(raw.reason_code)
    if reason is None and table.strict_reasons:
        raise UnknownCodeError(
            f"{raw.source.value} reason code {raw.reason_code!r} (with status {raw.code!r}) is "
            f"not in mapping table {raw.source.value.lower()} v{table.version}; map it in the "
            "shipped table or ask the partner what it means"
        )
    return reason


def load_mappings(overrides: Path | None = None, directory: Path = MAPPINGS_DIR) -> StatusMappings:
    """The shipped tables in ``directory``, with the operator's ``overrides`` file on top."""
    tables: dict[RawStatusSource, SourceTable] = {}
    for path in sorted(directory.glob("*.yaml")):
        table = _table(path, _read_yaml(path))
        tables[table.source] = table
    if overrides is not None:
        tables = _with_overrides(tables, overrides)
    return StatusMappings(tables)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MappingFileError(f"{path}: cannot read status mappings: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise MappingFileError(f"{path}: not valid YAML ({error}); fix the file") from None


def _table(path: Path, data: Any) -> SourceTable:
    if not isinstance(data, dict) or not isinstance(data.get("codes"), dict):
        raise MappingFileError(f"{path}: expected a mapping with 'source', 'version' and 'codes'")
    source = _source(path, data.get("source"))
    where = f"{path}: {source.value}"
    codes = {str(code): _status_meaning(f"{where} code {code}", value)
             for code, value in data["codes"].items()}
    reasons = {str(code): _reason_meaning(f"{where} reason {code}", value)
               for code, value in (data.get("reasons") or {}).items()}
    rules = tuple(
        DescriptionRule(str(rule["code"]), re.compile(str(rule["pattern"]), re.IGNORECASE),
                        _milestone(f"{where} description rule", rule["milestone"]))
        for rule in data.get("description_rules") or ()
    )
    return SourceTable(source, str(data.get("version", "0")), codes, reasons,
                       bool(data.get("strict_reasons", False)), rules)


def _with_overrides(tables: dict[RawStatusSource, SourceTable],
                    path: Path) -> dict[RawStatusSource, SourceTable]:
    data = _read_yaml(path)
    if data is None:
        return tables
    if not isinstance(data, dict):
        raise MappingFileError(
            f"{path}: expected '<SOURCE>: {{<raw code>: <MILESTONE>}}' (e.g. 'UPS: {{\"I:ZZ\": "
            "IN_TRANSIT}}'), got a " + type(data).__name__
        )
    merged = dict(tables)
    for source_name, codes in data.items():
        source = _source(path, source_name)
        if not isinstance(codes, dict):
            raise MappingFileError(f"{path}: {source.value}: expected '<raw code>: <MILESTONE>' "
                                   "entries under the source")
        extra = {str(code): _status_meaning(f"{path}: {source.value} code {code}", value)
                 for code, value in codes.items()}
        base = merged.get(source) or SourceTable(source, "0", {})
        merged[source] = SourceTable(
            source, f"{base.version}+overrides", {**base.codes, **extra}, base.reasons,
            base.strict_reasons, base.description_rules,
        )
    return merged


def _source(path: Path, value: Any) -> RawStatusSource:
    try:
        return RawStatusSource(str(value))
    except ValueError:
        known = ", ".join(s.value for s in RawStatusSource)
        raise MappingFileError(f"{path}: unknown source {value!r}; use one of {known}") from None


def _milestone(where: str, value: Any) -> Milestone:
    try:
        return Milestone(str(value))
    except ValueError:
        known = ", ".join(m.value for m in Milestone)
        raise MappingFileError(
            f"{where}: {value!r} is not a milestone; use one of {known}") from None


def _status_meaning(where: str, value: Any) -> StatusMeaning:
    if isinstance(value, str):
        return StatusMeaning(milestone=_milestone(where, value))
    if not isinstance(value, dict):
        raise MappingFileError(f"{where}: expected a MILESTONE or "
                               "{milestone: <MILESTONE>, exception: true}, got {value!r}")
    unknown = set(value) - {"milestone", "exception", "reason_group", "attribute"}
    if unknown:
        raise MappingFileError(f"{where}: unknown keys {sorted(unknown)}; allowed: milestone, "
                               "exception, reason_group, attribute")
    milestone = _milestone(where, value["milestone"]) if value.get("milestone") else None
    attribute = value.get("attribute")
    exception = bool(value.get("exception", False))
    if milestone is None and not exception and attribute is None:
        raise MappingFileError(f"{where}: says nothing; give a milestone, exception: true, or "
                               "attribute: ETA|APPOINTMENT|INFO")
    try:
        parsed_attribute = Attribute(attribute) if attribute is not None else None
    except ValueError:
        raise MappingFileError(f"{where}: attribute {attribute!r} is not ETA, APPOINTMENT or "
                               "INFO") from None
    group = value.get("reason_group")
    return StatusMeaning(milestone, exception, str(group) if group else None, parsed_attribute)


def _reason_meaning(where: str, value: Any) -> ReasonMeaning:
    if isinstance(value, str):
        return ReasonMeaning(value, exception=value != NORMAL)
    if isinstance(value, dict) and "reason_group" in value:
        return ReasonMeaning(str(value["reason_group"]), bool(value.get("exception", False)))
    raise MappingFileError(f"{where}: expected a reason group or {{reason_group, exception}}")
