"""storage.protocols: every protocol of a domain module is exported there (DESIGN: contract)."""

from __future__ import annotations

import importlib
import pkgutil

import storage.protocols as protocols

CONTRACT = {
    "MemoryStore", "WorkflowStore", "ObservabilityStore", "ScoreStore", "BlobStore",
    "VectorStore", "BlobLister", "Store", "BlobAware", "WindowReader", "VectorAware",
    "Prunable", "OrderBy", "Direction", "DOMAINS",
}


def test_the_contract_names_are_exported() -> None:
    assert set(protocols.__all__) == CONTRACT
    for name in CONTRACT:
        assert hasattr(protocols, name), name


def test_every_protocol_class_of_a_domain_module_is_exported_as_itself() -> None:
    defined: dict[str, type] = {}
    for info in pkgutil.iter_modules(protocols.__path__):
        module = importlib.import_module(f"storage.protocols.{info.name}")
        defined.update(
            (name, value)
            for name, value in vars(module).items()
            if isinstance(value, type) and value.__module__ == module.__name__
        )
    assert len(defined) == 12
    for name, value in defined.items():
        assert name in protocols.__all__, name
        assert getattr(protocols, name) is value, name
