"""Orphan files: what a crash between writing a commit's files and committing them leaves.

A file under a table's location that no snapshot, manifest or metadata file of the table
refers to is an orphan. Only files older than a minimum age are removed, so a sink writing
right now (its files are not committed yet) is never robbed of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from pyarrow import fs as pafs
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from sinks.iceberg.tables import table_names


@dataclass
class OrphanReport:
    table: str
    removed: list[str] = field(default_factory=list)
    kept_young: int = 0


def referenced_files(table: Table) -> set[str]:
    """Every file the table's metadata refers to: metadata files, manifest lists, manifests,
    data and delete files, statistics."""
    metadata = table.metadata
    files = {table.metadata_location}
    files |= {entry.metadata_file for entry in metadata.metadata_log}
    for snapshot in metadata.snapshots:
        files.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            files.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                files.add(entry.data_file.file_path)
    files |= {statistics.statistics_path for statistics in metadata.statistics}
    return {_path(name) for name in files}


def remove_orphans(catalog: Catalog, namespace: str, older_than_s: float,
                   dry_run: bool = False) -> list[OrphanReport]:
    """Remove (or with ``dry_run`` list) the orphan files of every table in ``namespace``."""
    reports = []
    for name in table_names(catalog, namespace):
        table = catalog.load_table((namespace, name))
        reports.append(_remove(table, older_than_s, dry_run))
    return reports


def _remove(table: Table, older_than_s: float, dry_run: bool) -> OrphanReport:
    report = OrphanReport(".".join(table.name()))
    filesystem, root = pafs.FileSystem.from_uri(table.location())
    keep = referenced_files(table)
    cutoff = time.time() - older_than_s
    try:
        found = filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
    except FileNotFoundError:
        return report
    for info in found:
        if info.type != pafs.FileType.File or _path(info.path) in keep:
            continue
        if info.mtime is not None and info.mtime.timestamp() > cutoff:
            report.kept_young += 1
            continue
        if not dry_run:
            filesystem.delete_file(info.path)
        report.removed.append(info.path)
    return report


def _path(location: str) -> str:
    """A file location without its scheme (file:///a/b and /a/b name the same file)."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        return parsed.path
    return f"{parsed.netloc}{parsed.path}"
