"""Every third-party module memdash imports is declared in pyproject.toml.

A module that only happens to be installed (pulled in by another package)
works here and breaks for a user the day that other package drops it: rich
and certifi came in through textual and httpx, undeclared.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]

#: Imported only inside a function, for a host application that has it; not a
#: dependency of memdash itself.
OPTIONAL = {
    "flask": "the probe's Flask blueprint, imported when the host app calls flask_blueprint()",
    "torch": "the probe's CUDA figures, read only where the host already imported torch",
    "redis": "redis:// targets (memdash[redis]), imported when a redis target is first polled",
    "textual_serve": "memdash serve, from the [serve] extra; imported inside run_serve",
}

#: Declared though memdash never imports them, and why.
INDIRECT = {
    "sniffio": "httpcore imports it on every request when present; without it the failing import is retried each time",
}


#: Modules whose distribution has another name (for Pythons that cannot infer it).
KNOWN_DISTS = {"pynvml": "nvidia-ml-py", "prometheus_client": "prometheus-client"}


def _installed(name: str) -> bool:
    try:
        md.distribution(name)
    except md.PackageNotFoundError:
        return False
    return True


def _name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {_name(r) for r in project["dependencies"]}


def _imported_top_level() -> set[str]:
    out: set[str] = set()
    for path in (REPO / "memdash").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                out.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                out.add(node.module.split(".")[0])
    return out


def _third_party(modules: set[str]) -> set[str]:
    return {m for m in modules if m not in sys.stdlib_module_names and m != "memdash" and not m.startswith("_")}


def test_every_imported_module_is_declared() -> None:
    declared = _declared()
    dists = md.packages_distributions()
    missing = []
    for module in sorted(_third_party(_imported_top_level())):
        if module in OPTIONAL:
            continue
        if module in ("tomli", "tomllib"):  # tomllib from 3.11, tomli before: declared with a marker
            assert "tomli" in declared
            continue
        names = {d.lower().replace("_", "-") for d in dists.get(module, [])}
        if not names:  # Python 3.10 infers top-level names only from top_level.txt
            names = {n for n in (module.lower().replace("_", "-"), KNOWN_DISTS.get(module, "")) if n and _installed(n)}
        assert names, f"{module} is imported by memdash but not installed at all"
        if not names & declared:
            missing.append(f"{module} (from {', '.join(sorted(names))})")
    assert not missing, "imported but not in [project.dependencies]: " + "; ".join(missing)


def test_indirect_dependencies_are_declared_and_installed() -> None:
    declared = _declared()
    for name in INDIRECT:
        assert name in declared, f"{name}: {INDIRECT[name]}"
        md.version(name)  # installed with memdash


def test_the_installed_metadata_matches_pyproject() -> None:
    """The environment under test was installed from this pyproject (not a stale one)."""
    installed = {_name(r) for r in md.requires("memdash") or [] if "extra ==" not in r}
    assert installed == _declared()


def test_the_optional_imports_are_really_optional() -> None:
    """Importing memdash (and the probe) must not pull in the optional modules."""
    import subprocess

    code = ("import sys, memdash, memdash.cli, memdash.probe, memdash.probe.frontends; "
            f"print(sorted(m for m in {sorted(OPTIONAL)!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_module_the_tests_import_is_declared_for_tests() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    dists = md.packages_distributions()
    local = {p.stem for p in (REPO / "tests").rglob("*.py")} | {p.name for p in (REPO / "tests").iterdir() if p.is_dir()}
    local.add("tests")  # `from tests.x import y`
    missing = []
    for path in (REPO / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                mods = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module.split(".")[0]]
            else:
                continue
            for module in _third_party(set(mods)) - local - set(OPTIONAL) - {"tomli", "tomllib"}:
                names = {d.lower().replace("_", "-") for d in dists.get(module, [])} or \
                    {n for n in (module.lower().replace("_", "-"), KNOWN_DISTS.get(module, "")) if n and _installed(n)}
                if not names & declared:
                    missing.append(f"{module} in {path.relative_to(REPO)}")
    assert not missing, "imported by the tests but not in [project.optional-dependencies] test: " + "; ".join(
        sorted(set(missing)))
