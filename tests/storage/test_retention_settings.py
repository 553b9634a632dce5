"""``storage.lifecycle.Retention``: one setting, parsed strictly, refused by name."""

from __future__ import annotations

import contextlib
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import storage
from storage.errors import ValidationError
from storage.lifecycle import Retention
from storage.urls import project_root


def test_every_domain_and_unit_parses_and_prints_back() -> None:
    parsed = Retention.parse("threads=90d, runs=12h spans=2w,scores=45m")
    assert parsed == Retention(threads=timedelta(days=90), runs=timedelta(hours=12),
                               spans=timedelta(weeks=2), scores=timedelta(minutes=45))
    assert Retention.parse(str(parsed)) == parsed
    assert str(Retention.parse("runs=90s")) == "runs=90s"
    assert Retention.parse("spans=forever") == Retention() and not Retention()
    assert Retention.parse("") == Retention.parse(None) == Retention()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("thread=90d", "unknown domain 'thread'"),
        ("threads=ninety", "threads: cannot parse the age 'ninety'"),
        ("threads=90", "threads: cannot parse the age '90'"),
        ("threads=1.5d", "threads: cannot parse"),
        ("threads=-1d", "threads: cannot parse"),
        ("threads=0d", "threads: the age must be positive"),
        ("threads=99999w", "over a century"),
        ("threads", "entry 'threads' is not <domain>=<age>"),
        ("threads=1d,threads=2d", "'threads' is given twice"),
    ],
)
def test_bad_settings_are_refused_naming_them(text: str, named: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(named)) as info:
        Retention.parse(text)
    assert str(info.value).startswith("STOWAGE_RETENTION: ")


@pytest.mark.parametrize("value", ["threads=90x", "scores=", "foo=1d"])
def test_from_env_stops_before_opening_anything(value: str, tmp_path: Any) -> None:
    with pytest.raises(ValidationError, match="STOWAGE_RETENTION"):
        storage.from_env({"STOWAGE_STORAGE_URL": f"sqlite:///{tmp_path}/x.db",
                          "STOWAGE_RETENTION": value})
    assert not (tmp_path / "x.db").exists()


def test_the_composite_carries_the_setting_to_prune() -> None:
    store = storage.from_env({"STOWAGE_STORAGE_URL": "memory://",
                              "STOWAGE_RETENTION": "threads=30d"})
    assert store.retention == Retention(threads=timedelta(days=30))


def test_expiry_times_round_up_to_the_second() -> None:
    retention = Retention(threads=timedelta(days=1))
    stamp = datetime(2025, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)
    assert retention.expires_at("threads", stamp) == int(stamp.timestamp()) + 86_400 + 1
    assert retention.expires_at("runs", stamp) is None


def test_a_retention_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ValidationError, match="threads"):
        Retention(threads=90)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="Retention"):
        storage.open("memory://").prune(retention="threads=1d")  # type: ignore[arg-type]


def test_the_readme_retention_snippet_runs_as_written() -> None:
    text = (project_root() / "README.md").read_text(encoding="utf-8")
    section = text.split("\n### Retention\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    (snippet,) = re.findall(r"```python\n(.*?)```", section, re.S)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md", "exec"), {})
    expected = re.search(r"print\(receipt.counts\)  # (.*)", snippet)
    assert expected is not None and printed.getvalue().strip() == expected[1]


def test_the_readme_erase_snippet_runs_as_written() -> None:
    text = (project_root() / "README.md").read_text(encoding="utf-8")
    section = text.split("\n### Erasing a resource\n", 1)[1]
    section = section.split("\n## ", 1)[0].split("\n### ", 1)[0]
    (snippet,) = re.findall(r"```python\n(.*?)```", section, re.S)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md", "exec"), {})
    expected = re.search(r"print\(receipt.counts\)  # (.*)", snippet)
    assert expected is not None and printed.getvalue().strip() == expected[1]
