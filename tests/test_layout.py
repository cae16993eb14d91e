"""The layout the README promises: stages import downward only, analysis stays pure, no import cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("yuqing", "stores", "spiders", "pipelines", "transport", "analysis", "workers", "search", "alerts",
            "reports", "dashboards", "console", "sample_site", "tools")
# What pure analysis code never imports: files, databases, sockets and the settings are the edge's business.
IMPURE = ("sqlite3", "socket", "requests", "urllib.request", "http", "tempfile", "shutil", "subprocess",
          "yuqing.config.settings", "stores", "workers", "transport", "search", "alerts", "reports",
          "os", "io", "pathlib", "gzip", "marshal", "pickle", "shelve")
# Calls that open a file, whatever they are called on.
OPENING = ("open", "read_text", "read_bytes", "write_text", "write_bytes", "load_userdict", "get_dict_file",
           "initialize", "connect")


def imports_of(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_analysis_imports_nothing_that_opens_files_databases_or_settings() -> None:
    found = [(str(path.relative_to(ROOT)), module) for path in modules("analysis") for module in imports_of(path)
             if any(under(module, banned) for banned in IMPURE)]
    assert found == []


def test_analysis_calls_nothing_that_opens_a_file() -> None:
    """Models and dictionaries are read by stores/language.py and handed in; analysis opens none itself."""
    found = []
    for path in modules("analysis"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                if name in OPENING:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node.func)}")
    assert found == []


# Run in a fresh interpreter, so that nothing loaded by other tests hides a first-use load: the analyzer
# is built at the edge as `yuqing analyze` builds it, then files, databases and sockets are closed to the
# process and every analysis module is imported and run.
NO_FILES_SCRIPT = """
import builtins, importlib, io, os, pkgutil, socket, sqlite3, sys, tempfile
from pathlib import Path
from yuqing.config import load_settings
from yuqing.schema import GOV_DOC_NUMBER, GOV_VALIDITY, Post
from workers.build import analyzer_from_settings
import analysis

analyzer = analyzer_from_settings(load_settings(data_dir=Path(tempfile.mkdtemp())), None)
tried = []

def refuse(name):
    def refused(*args, **kwargs):
        tried.append(f"{name}{args[:1]}")
        raise PermissionError(f"analysis opened something: {name}{args[:1]}")
    return refused

for owner, name in ((builtins, "open"), (io, "open"), (os, "open"), (sqlite3, "connect"), (socket, "socket")):
    setattr(owner, name, refuse(f"{owner.__name__}.{name}"))
for module in pkgutil.walk_packages(analysis.__path__, "analysis."):
    importlib.import_module(module.name)
posts = [
    Post(id="w", url="urn:w", platform="weibo", source="t", title="老旧小区改造",
         text="牡丹区老旧小区改造停工三个月，物业不管，太气人了[怒]//@市民甲:双随机、一公开"),
    Post(id="g", url="urn:g", platform="gov", source="t", title="菏泽市老旧小区改造实施方案",
         text="各县区人民政府：现将实施方案印发给你们。", extra={GOV_DOC_NUMBER: "菏政办发〔2023〕12号", GOV_VALIDITY: "现行有效"}),
]
enriched = [analyzer.enrich(post) for post in posts]
analyzer.changed_events()
assert "老旧小区改造" in enriched[0].keywords and enriched[0].places == ["牡丹区"], enriched[0]
assert enriched[0].sentiment is not None and "双随机、一公开" in enriched[0].keywords, enriched[0]
assert not tried, tried
print("ok")
"""


def test_analysis_opens_no_file_database_or_socket_once_built_at_the_edge() -> None:
    done = subprocess.run([sys.executable, "-c", NO_FILES_SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr[-2000:]


@pytest.mark.parametrize(("package", "forbidden"), [
    ("spiders", "pipelines"),  # the crawl's pipelines and publisher are handed in (workers/crawl.py)
    ("reports", "alerts.service"),  # readers use alerts.queries, which writes nothing
])
def test_a_stage_does_not_import_what_is_wired_to_it(package: str, forbidden: str) -> None:
    assert [str(p.relative_to(ROOT)) for p in modules(package) if any(under(m, forbidden) for m in imports_of(p))] == []


def test_the_worker_loop_knows_no_backend() -> None:
    imported = set(imports_of(ROOT / "workers" / "runner.py"))
    assert not {m for m in imported if under(m, "search") or under(m, "transport.kafka") or under(m, "transport.sqlite_log")}


def unit_of(module: str) -> str | None:
    """The package a module belongs to; the glue in `yuqing/` counts as its parts (schema, config, cli, ...)."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    return ".".join(parts[:2]) if parts[0] == "yuqing" and len(parts) > 1 else parts[0]


def test_no_import_cycles_between_packages() -> None:
    edges: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in modules(package):
            source = unit_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
            assert source is not None
            targets = edges.setdefault(source, set())
            targets.update(t for m in imports_of(path) if (t := unit_of(m)) is not None and t != source)

    def reaches(start: str, goal: str, seen: frozenset[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in edges.get(start, ()))

    cycles = sorted((a, b) for a, targets in edges.items() for b in targets if reaches(b, a, frozenset({b})))
    assert cycles == []


def imported_tests(path: Path) -> list[str]:
    """What a test module takes of other modules' tests: `from tests.x import *`, a `test_*` function or
    `Test*` class by name, or one reached through an imported tests module (`suite.test_x(...)`)."""
    found: list[str] = []
    modules_bound: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and under(node.module, "tests"):
            for alias in node.names:
                if alias.name == "*" or alias.name.startswith(("test_", "Test")):
                    found.append(f"from {node.module} import {alias.name}")
                elif node.module == "tests":
                    modules_bound.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules_bound.update(alias.asname or alias.name for alias in node.names if under(alias.name, "tests"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith(("test_", "Test"))
                and ast.unparse(node.value) in modules_bound):
            found.append(ast.unparse(node))
    return found


def test_no_test_module_imports_the_tests_of_another() -> None:
    """Shared checks are a base class the backend's module subclasses (tests/index_suite.py), or a
    parametrised fixture: a test imported by name runs twice, or under the wrong module's fixtures."""
    found = {str(path.relative_to(ROOT)): taken for path in sorted((ROOT / "tests").rglob("test_*.py"))
             if (taken := imported_tests(path))}
    assert found == {}


def test_every_migration_has_a_version_of_its_own() -> None:
    """Two branches can each add `NNNN_*.sql` with the same number; `yuqing state setup` records one version once,
    so the second file would never be applied (or the setup would fail)."""
    from stores.postgres import migrations

    versions = [migration.version for migration in migrations()]
    assert versions == list(range(1, len(versions) + 1))
