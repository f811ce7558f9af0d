"""The Iceberg side of the sink: the catalog, one table per topic, and the Kafka offsets that
each snapshot's summary carries.

Exactly once rests on one fact: a table's data files and the Kafka offsets they cover become
visible in the same catalog commit, because the offsets are a property of the snapshot that
adds the files (``backbone.kafka.offsets.<topic>``: JSON ``{"<partition>": <next offset>}``,
Kafka's own convention of the next offset to read). On start the sink reads them back from the
newest snapshot that has them and seeks there; Kafka consumer groups are never used. A commit
that fails leaves files no snapshot references (orphans, removed by :mod:`.maintenance`).

Each commit requires the table's main branch to still be at the snapshot its offsets were
read from, and tables are created with ``commit.retry.num-retries=0``: pyiceberg would
otherwise rebase our snapshot onto one another writer made meanwhile, and two sinks on one
table would then both append the same records. So the second commit fails, and that sink
re-reads the offsets the table now holds.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.update import AssertRefSnapshotId
from pyiceberg.transforms import DayTransform

from backbone.clients import remember_secrets
from backbone.settings import Settings
from sinks.iceberg.schema import PARTITION_SOURCE, SinkTopic

OFFSETS_PREFIX = "backbone.kafka.offsets."
TABLE_PROPERTIES = {
    "commit.retry.num-retries": "0",  # see the module docstring: never rebase a sink commit
    "write.parquet.compression-codec": "zstd",
}


def catalog_location(settings: Settings, catalog: str | None = None,
                     warehouse: str | None = None) -> tuple[str, str | None]:
    """The catalog URI and warehouse the options, else the settings, else the defaults name."""
    uri = catalog or settings.iceberg_catalog
    where = warehouse or settings.iceberg_warehouse
    root = settings.state_dir / "iceberg"
    if not uri:
        uri = f"sqlite:///{(root / 'catalog.db').resolve()}"
    if where is None and not uri.startswith(("http://", "https://")):
        where = str((root / "warehouse").resolve())
    return uri, where


def open_catalog(settings: Settings, catalog: str | None = None,
                 warehouse: str | None = None) -> Catalog:
    """The SQL catalog (SQLite, PostgreSQL) or REST catalog the settings and options name."""
    uri, where = catalog_location(settings, catalog, warehouse)
    properties: dict[str, str] = dict(settings.iceberg_catalog_properties)
    if where is not None:
        properties["warehouse"] = _warehouse_uri(where)
    if uri.startswith(("http://", "https://")):
        from pyiceberg.catalog.rest import RestCatalog

        if settings.iceberg_catalog_token is not None:
            properties["token"] = settings.iceberg_catalog_token.get_secret_value()
        if settings.iceberg_catalog_credential is not None:
            properties["credential"] = settings.iceberg_catalog_credential.get_secret_value()
        # hidden wherever text leaves the process (errors, dead letters, logs)
        remember_secrets([properties.get("token"), properties.get("credential"),
                          str(properties.get("credential", "")).partition(":")[2]])
        return RestCatalog("backbone", uri=uri, **properties)
    from pyiceberg.catalog.sql import SqlCatalog

    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return SqlCatalog("backbone", uri=uri, **properties)


def _warehouse_uri(where: str) -> str:
    if "://" in where:
        return where
    path = Path(where).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path.as_uri()


def ensure_table(catalog: Catalog, namespace: str, topic: SinkTopic, columns: pa.Schema) -> Table:
    """The topic's table, created with ``columns`` and partitioned by day(occurred_at) first."""
    identifier = (namespace, topic.table)
    catalog.create_namespace_if_not_exists(namespace)
    try:
        return catalog.load_table(identifier)
    except NoSuchTableError:
        pass
    transaction = catalog.create_table_transaction(
        identifier, schema=columns, properties=TABLE_PROPERTIES)
    if PARTITION_SOURCE in columns.names:
        with transaction.update_spec() as spec:
            spec.add_field(PARTITION_SOURCE, DayTransform(), f"{PARTITION_SOURCE}_day")
    transaction.commit_transaction()
    return catalog.load_table(identifier)


def table_names(catalog: Catalog, namespace: str) -> list[str]:
    """The tables in ``namespace``, sorted; none before the sink first ran."""
    try:
        return sorted(tuple(identifier)[-1] for identifier in catalog.list_tables(namespace))
    except NoSuchNamespaceError:
        return []


def committed_offsets(table: Table, topic: str) -> dict[int, int]:
    """The next offset to read per partition of ``topic``, from the newest snapshot that has
    them (walking back past snapshots other tools made, such as compactions); {} for none."""
    key = OFFSETS_PREFIX + topic
    snapshot = table.current_snapshot()
    while snapshot is not None:
        text = snapshot.summary.additional_properties.get(key) if snapshot.summary else None
        if text is not None:
            return {int(partition): int(offset) for partition, offset in json.loads(text).items()}
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return {}


class TableCommit:
    """One atomic commit to one table: schema evolution, data files and offsets together."""

    def __init__(self, table: Table, writer_columns: Iterable[pa.Schema]) -> None:
        self._transaction = table.transaction()
        # Fast appends carry no requirement, so the catalog would put ours on top of whatever
        # another writer committed meanwhile: both would then hold the same records. Require
        # the snapshot we read our offsets from (pyiceberg has no public call for this).
        base = table.current_snapshot()
        self._transaction._apply((), (AssertRefSnapshotId(
            ref=MAIN_BRANCH, snapshot_id=base.snapshot_id if base is not None else None),))
        current = {field.name for field in table.schema().fields}
        for columns in writer_columns:
            # Avro evolution: a field the table lacks becomes a new (optional) column; the
            # data files already written are not touched, their rows read it as null
            if not set(columns.names) <= current or _has_new_nested(table, columns):
                with self._transaction.update_schema() as update:
                    update.union_by_name(columns)
                current |= set(columns.names)

    @property
    def columns(self) -> pa.Schema:
        """The table's columns as Arrow, after this commit's schema changes."""
        return self._transaction.table_metadata.schema().as_arrow()

    def write(self, rows: pa.Table, topic: str, offsets: dict[int, int],
              pause_before_commit: Path | None = None) -> Table:
        """Write ``rows`` as data files, then commit them with ``offsets`` in one snapshot."""
        summary = {OFFSETS_PREFIX + topic: json.dumps(
            {str(partition): offset for partition, offset in sorted(offsets.items())})}
        self._transaction.append(rows, snapshot_properties=summary)
        if pause_before_commit is not None:
            _pause(pause_before_commit)
        return self._transaction.commit_transaction()


def _has_new_nested(table: Table, columns: pa.Schema) -> bool:
    existing = table.schema().as_arrow()
    return any(_new_fields(existing.field(field.name).type, field.type)
               for field in columns if field.name in existing.names)


def _new_fields(have: pa.DataType, want: pa.DataType) -> bool:
    if pa.types.is_struct(have) and pa.types.is_struct(want):
        names = {have.field(i).name: have.field(i).type for i in range(have.num_fields)}
        return any(want.field(i).name not in names
                   or _new_fields(names[want.field(i).name], want.field(i).type)
                   for i in range(want.num_fields))
    if pa.types.is_list(have) and pa.types.is_list(want):
        return _new_fields(have.value_type, want.value_type)
    if pa.types.is_map(have) and pa.types.is_map(want):
        return _new_fields(have.item_type, want.item_type)
    return False


def _pause(marker: Path) -> None:
    # the crash tests' window: files written, snapshot not committed; they SIGKILL us here
    marker.write_text(str(os.getpid()))
    while True:
        time.sleep(1)


def table_summary(table: Table) -> dict[str, Any]:
    """Rows, snapshots and the metadata file of ``table`` (what `backbone query --tables` shows)."""
    snapshot = table.current_snapshot()
    total = snapshot.summary.additional_properties.get("total-records") \
        if snapshot is not None and snapshot.summary else "0"
    return {"table": ".".join(table.name()), "rows": int(total or 0),
            "snapshots": len(table.snapshots()), "metadata": table.metadata_location}
