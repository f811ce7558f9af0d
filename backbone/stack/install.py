"""Fetches the local stack's runtime (Kafka jars, Apicurio Registry) from Maven Central, once.

deploy/local/pom.xml pins the versions. Maven caches downloads in ~/.m2; the unpacked result
goes to ``<lib_dir>/kafka`` and ``<lib_dir>/apicurio`` with a stamp of the pom it came from, so a
second install with the same pom runs no Maven at all (offline-safe once cached).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from backbone.stack.errors import NO_STACK_HINT, StackError

POM = Path(__file__).resolve().parents[2] / "deploy" / "local" / "pom.xml"
SECURE_POM = POM.parent / "secure" / "pom.xml"
STAMP = "installed.stamp"


def kafka_lib(lib_dir: Path) -> Path:
    return lib_dir / "kafka"


def registry_jar(lib_dir: Path) -> Path:
    return lib_dir / "apicurio" / "quarkus-run.jar"


def _pom_property(name: str, pom: Path = POM) -> str:
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find(f"m:properties/m:{name}", namespace)
    if node is None or not node.text:
        raise StackError(f"{pom}: property <{name}> is missing; restore it from git")
    return node.text.strip()


def _stamp() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def is_installed(lib_dir: Path) -> bool:
    stamp = lib_dir / STAMP
    return (
        stamp.is_file()
        and stamp.read_text().strip() == _stamp()
        and any(kafka_lib(lib_dir).glob("kafka_2.13-*.jar"))
        and registry_jar(lib_dir).is_file()
    )


def _mvn(args: list[str], pom: Path = POM) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "mvn (Apache Maven) is not on PATH: the local stack's jars come from Maven Central. "
            f"Install it (Debian: apt-get install maven). {NO_STACK_HINT}"
        )
    command = [mvn, "-B", "-q", "-f", str(pom), *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise StackError(
            f"Maven could not fetch the local stack ({' '.join(args[:1])}):\n"
            + "\n".join(output)
            + f"\nCheck that Maven Central is reachable. {NO_STACK_HINT}"
        )


def _install_kafka(lib_dir: Path) -> None:
    target = kafka_lib(lib_dir)
    shutil.rmtree(target, ignore_errors=True)
    _mvn(["dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={target}"])


def _install_registry(lib_dir: Path) -> None:
    version = _pom_property("apicurio.version")
    target = lib_dir / "apicurio"
    with tempfile.TemporaryDirectory(prefix="backbone-apicurio-") as download:
        artifact = f"io.apicurio:apicurio-registry-app:{version}:tar.gz:all"
        _mvn(["dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={download}"])
        archive = next(Path(download).glob("*.tar.gz"))
        shutil.rmtree(target, ignore_errors=True)
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    if not registry_jar(lib_dir).is_file():
        # 3.1/3.2 archives wrap everything in quarkus-app/; flatten so one path works.
        nested = target / "quarkus-app"
        if nested.is_dir():
            for item in nested.iterdir():
                item.rename(target / item.name)
    if not registry_jar(lib_dir).is_file():
        raise StackError(f"{artifact}: the archive has no quarkus-run.jar; pick another version")


def install(lib_dir: Path, *, force: bool = False) -> bool:
    """Make sure the jars are in ``lib_dir``; True if anything was downloaded or unpacked."""
    if not force and is_installed(lib_dir):
        return False
    lib_dir.mkdir(parents=True, exist_ok=True)
    print(f"installing Kafka and Apicurio Registry into {lib_dir} (Maven)...", file=sys.stderr)
    _install_kafka(lib_dir)
    _install_registry(lib_dir)
    (lib_dir / STAMP).write_text(_stamp() + "\n")
    return True


def keycloak_home(lib_dir: Path) -> Path:
    return lib_dir / "keycloak"


def keycloak_installed(lib_dir: Path) -> bool:
    stamp = keycloak_home(lib_dir) / STAMP
    return stamp.is_file() and stamp.read_text().strip() == _pom_property(
        "keycloak.version", SECURE_POM)


def install_keycloak(lib_dir: Path, *, force: bool = False) -> bool:
    """Keycloak's server distribution in ``<lib_dir>/keycloak`` (the secured stack's OpenID
    Connect server); True if anything was downloaded or unpacked."""
    if not force and keycloak_installed(lib_dir):
        return False
    version = _pom_property("keycloak.version", SECURE_POM)
    target = keycloak_home(lib_dir)
    print(f"installing Keycloak {version} into {target} (Maven)...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="backbone-keycloak-") as download:
        artifact = f"org.keycloak:keycloak-quarkus-dist:{version}:tar.gz"
        _mvn(["dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={download}"],
             SECURE_POM)
        archive = next(Path(download).glob("*.tar.gz"))
        unpacked = Path(download) / "unpacked"
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        # the archive wraps everything in keycloak-<version>/
        shutil.move(next(unpacked.iterdir()), target)
    if not (target / "bin" / "kc.sh").is_file():
        raise StackError(f"{artifact}: the archive has no bin/kc.sh; pick another version")
    (target / STAMP).write_text(version + "\n")
    return True
