"""Every processor is registered one way: a package whose processor.py has SPEC, logic, check."""

from __future__ import annotations

import inspect
from pathlib import Path

from backbone.settings import Settings
from processors.api import PACKAGES, package, processor_names
from processors.step import ProcessorLogic

PROCESSORS = Path(__file__).resolve().parents[3] / "processors"


def test_every_package_with_a_processor_module_is_listed_and_only_those() -> None:
    on_disk = sorted(path.parent.name for path in PROCESSORS.glob("*/processor.py"))
    listed = sorted(Path(inspect.getfile(p)).parent.name for p in PACKAGES)  # type: ignore[arg-type]
    assert listed == on_disk
    assert all(Path(inspect.getfile(p)).name == "processor.py" for p in PACKAGES)  # type: ignore[arg-type]


def test_each_package_exports_spec_logic_and_check_alike() -> None:
    settings = Settings()
    for name in processor_names():
        found = package(name)
        assert found.SPEC.name == name
        logic = found.logic(settings)
        assert isinstance(logic, ProcessorLogic) and logic.spec is found.SPEC
        assert list(inspect.signature(found.check).parameters) == [
            "topic", "value", "serde", "settings"]


def test_no_code_outside_a_package_names_a_processor() -> None:
    """No if-chains on processor names and no module names built from them."""
    names = processor_names()
    offenders = []
    for path in [*PROCESSORS.glob("*.py"), *PROCESSORS.glob("dlq/*.py")]:
        text = path.read_text()
        offenders += [f"{path.name}: {name}" for name in names if f'"{name}"' in text]
        if "import_module" in text:
            offenders.append(f"{path.name}: import_module")
    assert offenders == []
