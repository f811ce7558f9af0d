"""Compares schemas/ with the version committed at a git ref: the offline compatibility gate.

Schema files are named by the full name of the type they define (``com.acme.Order.avsc``) and
refer to shared named types defined in sibling files by name. ``expand_schema`` turns one file
into a self-contained schema by inlining each referenced sibling at its first use (the rules of
backbone/avro_names.py, shared with the runtime loader); it works on
any mapping of file name -> text, so the working tree (``working_tree_texts``) and a commit
(``committed_schema_texts``, read with ``git ls-tree`` / ``git show``) load the same way.

``gate`` checks every ``*.avsc`` in the working tree against the file of the same name at the
ref (and, for ``*_TRANSITIVE`` modes, against every committed version of it in the history up
to the ref). A new file is a new subject and passes; a deleted file is a problem, because a
published contract disappeared. Git runs as a subprocess, read-only.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from backbone.avro_names import NameResolver
from backbone.compatibility import MODES, InvalidSchemaError, check

SCHEMA_SUFFIX: Final = ".avsc"


class SchemaGateError(Exception):
    """The gate could not run: not a git repository, unknown ref, or no schema directory."""


class SchemaLoadError(ValueError):
    """A schema file cannot be read as Avro: bad JSON or a reference to no known type."""


@dataclass
class GateReport:
    """Outcome of one gate run. ``checked`` counts working-tree files compared with at least
    one committed version; each problem names the file, the field path and the rule."""

    ref: str
    mode: str
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------------------------------------
# loading


def working_tree_texts(schema_dir: Path) -> dict[str, str]:
    """Every ``*.avsc`` file in ``schema_dir`` (not recursive), by file name."""
    return {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted(schema_dir.glob(f"*{SCHEMA_SUFFIX}"))
        if path.is_file()
    }


def expand_schema(file_name: str, texts: Mapping[str, str]) -> Any:
    """The schema in ``texts[file_name]`` with every sibling type it references inlined.

    The rules are backbone/avro_names.py's, the same the runtime loader (backbone/schemas.py)
    applies: a referenced type is looked up as the sibling ``<full name>.avsc`` in ``texts`` and
    inlined at its first use, later references stay full names, recursion is refused. Raises
    SchemaLoadError naming the file when the JSON is bad or a type cannot be resolved.
    """

    def sibling(full_name: str) -> Any:
        name = f"{full_name}{SCHEMA_SUFFIX}"
        return _parse_json(name, texts[name]) if name in texts else None

    resolver = NameResolver(sibling, file_name, SchemaLoadError)
    return resolver.named(file_name.removesuffix(SCHEMA_SUFFIX))


def _parse_json(file_name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SchemaLoadError(
            f"{file_name}: not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg}); fix the file"
        ) from error


# ---------------------------------------------------------------------------------------------
# git (read-only)


def committed_schema_texts(
    ref: str, schema_dir_relpath: str = "schemas", repo_root: Path | None = None
) -> dict[str, str]:
    """Every ``*.avsc`` file directly in ``schema_dir_relpath`` as committed at ``ref``.

    Returns an empty mapping when the directory did not exist at ``ref``; raises
    SchemaGateError when ``ref`` is not a commit in the repository at ``repo_root``.
    """
    repository = _Repository(repo_root or Path.cwd())
    commit = repository.commit(ref)
    return repository.schema_texts(commit, _git_path(schema_dir_relpath))


@dataclass(frozen=True)
class _Repository:
    root: Path

    def git(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["git", "-C", str(self.root), *args],
                capture_output=True,
                text=True,
                encoding="utf-8",
                check=False,
            )
        except FileNotFoundError as error:
            raise SchemaGateError("git is not installed; the schema gate needs it") from error

    def commit(self, ref: str) -> str:
        if ref.startswith("-"):
            raise SchemaGateError(f"ref {ref!r} is not a git ref (it starts with '-')")
        result = self.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if result.returncode != 0:
            raise SchemaGateError(
                f"ref {ref!r} does not name a commit in {self.root} (a repository without "
                "commits has no HEAD yet); commit the schemas first or pass an existing ref "
                "with --against"
            )
        return result.stdout.strip()

    def schema_texts(self, commit: str, relpath: str) -> dict[str, str]:
        listing = self.git("ls-tree", "-z", f"{commit}:{relpath}")
        if listing.returncode != 0:
            return {}  # the directory did not exist in that commit
        texts: dict[str, str] = {}
        for entry in filter(None, listing.stdout.split("\0")):
            meta, _, name = entry.partition("\t")
            if meta.split()[1] == "blob" and name.endswith(SCHEMA_SUFFIX):
                texts[name] = self.show(commit, _join(relpath, name)) or ""
        return texts

    def show(self, commit: str, path: str) -> str | None:
        result = self.git("show", f"{commit}:{path}")
        return result.stdout if result.returncode == 0 else None

    def history(self, commit: str, path: str) -> list[str]:
        """Commits that touched ``path`` at or before ``commit``, oldest first."""
        result = self.git("log", "--format=%H", commit, "--", path)
        return list(reversed(result.stdout.split())) if result.returncode == 0 else []

    def toplevel(self) -> Path:
        result = self.git("rev-parse", "--show-toplevel")
        if result.returncode != 0:
            raise SchemaGateError(
                f"{self.root} is not inside a git repository; the gate compares with committed "
                "schemas, so run it in a clone"
            )
        return Path(result.stdout.strip())


def _git_path(relpath: str) -> str:
    posix = Path(relpath).as_posix()
    return "" if posix == "." else posix.strip("/")


def _join(relpath: str, name: str) -> str:
    return f"{relpath}/{name}" if relpath else name


# ---------------------------------------------------------------------------------------------
# the gate


def gate(schema_dir: Path, ref: str = "HEAD", mode: str = "FULL_TRANSITIVE") -> GateReport:
    """Check every schema in ``schema_dir`` against its committed versions at ``ref``.

    Raises SchemaGateError when the gate cannot run (no repository, unknown ref, missing
    directory) and ValueError for an unknown mode; incompatibilities are in the report.
    """
    if mode.upper() not in MODES:
        raise ValueError(f"unknown compatibility mode {mode!r}; use one of {', '.join(MODES)}")
    if not schema_dir.is_dir():
        raise SchemaGateError(f"schema directory {schema_dir} does not exist")
    root = _Repository(schema_dir).toplevel()
    repository = _Repository(root)
    relpath = _git_path(str(schema_dir.resolve().relative_to(root.resolve())))
    commit = repository.commit(ref)
    run = _GateRun(repository, relpath, ref, mode.upper(), working_tree_texts(schema_dir))
    return run.report(commit)


@dataclass
class _GateRun:
    repository: _Repository
    relpath: str
    ref: str
    mode: str
    current: dict[str, str]
    # sibling files per commit, so each commit's tree is read once per run
    trees: dict[str, dict[str, str]] = field(default_factory=dict)

    def report(self, commit: str) -> GateReport:
        report = GateReport(ref=self.ref, mode=self.mode)
        committed = self.tree(commit)
        for name in sorted(set(committed) - set(self.current)):
            report.problems.append(
                f"{name}: CONTRACT_DELETED: a published contract was deleted (it exists at "
                f"{self.ref} but not in the working tree); restore it, consumers still depend on "
                "it (a new major version is a new topic, not a replaced file)"
            )
        for name in sorted(set(self.current) & set(committed)):
            report.checked += 1
            report.problems += self.problems_for(name, commit)
        return report

    def problems_for(self, name: str, commit: str) -> list[str]:
        try:
            new = expand_schema(name, self.current)
            versions = self.previous_versions(name, commit)
            labels = [label for label, _ in versions]
            found = check(new, [schema for _, schema in versions], self.mode, labels=labels)
        except (SchemaLoadError, InvalidSchemaError) as error:
            return [f"{name}: INVALID_SCHEMA: {error}"]
        return [f"{name}: {p.path}: {p.rule}: {p.direction}: {p.message}" for p in found]

    def previous_versions(self, name: str, commit: str) -> list[tuple[str, Any]]:
        """Committed versions of ``name`` to compare with, oldest first, without repeats."""
        shas = [commit]
        if self.mode.endswith("_TRANSITIVE"):
            shas = [*self.repository.history(commit, _join(self.relpath, name)), commit]
        newest_first: list[tuple[str, Any]] = []
        seen: set[str] = set()
        # newest first, so a repeated schema keeps the label of its latest commit (the ref)
        for sha in reversed(shas):
            tree = self.tree(sha)
            if name not in tree:
                continue  # the commit deleted the file; nothing was published from it
            schema = expand_schema(name, tree)
            canonical = json.dumps(schema, sort_keys=True)
            if canonical not in seen:
                seen.add(canonical)
                newest_first.append((self._label(sha, commit), schema))
        return newest_first[::-1]

    def tree(self, sha: str) -> dict[str, str]:
        if sha not in self.trees:
            self.trees[sha] = self.repository.schema_texts(sha, self.relpath)
        return self.trees[sha]

    def _label(self, sha: str, commit: str) -> str:
        return f"the version at {self.ref}" if sha == commit else f"the version at {sha[:10]}"
