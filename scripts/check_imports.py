"""Fails when an app imports against the allowed direction (run by `make lint`).

The picture (docs/architecture.md): `jobs` uses `providers` and `datasets_app`; every app uses
`fineweb` (settings, `fineweb.accounts`, `fineweb.lib`); nothing points back. `localtuner/engine/`
is plain PyTorch: it imports neither Django nor the rest of the project. Every import counts,
at module level, inside functions and under `TYPE_CHECKING`: a late import hides a cycle, it does
not remove it. Tests, benchmarks and scripts may import anything.

Usage: python scripts/check_imports.py  (exit status 1 and one line per offending import)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Layer -> the other layers it may import. A layer is a top-level package, except that
# `localtuner.engine` is a layer of its own.
ALLOWED: dict[str, set[str]] = {
    "fineweb": set(),
    "datasets_app": {"fineweb"},
    # The built-in local provider is one of the providers: its connection's key is issued there.
    "providers": {"fineweb", "localtuner"},
    "jobs": {"fineweb", "providers", "datasets_app"},
    # The compare screen streams through the provider adapters, offers every job's models and
    # checkpoints, and reads the held-out prompts of a job's validation split.
    "compare": {"fineweb", "providers", "jobs", "datasets_app"},
    # Evaluation runs send a dataset version's held-out examples (datasets_app) to models of the
    # team's connections (providers), starting from a job's base and fine-tuned models (jobs).
    # The judge is checked against the compare screen's blind votes on the same pairs too
    # (compare.selectors.blind_votes_on_pair); compare does not import evaluation.
    "evaluation": {"fineweb", "providers", "datasets_app", "jobs", "compare"},
    # As OpenAI checks a fine-tuning upload, the local API checks it with the datasets validator.
    "localtuner": {"fineweb", "localtuner.engine", "datasets_app"},
    "localtuner.engine": set(),
    # Review reads a version's examples and checks fixes with the upload's rules; freezing what was
    # approved is datasets_app's version_derive.
    "review": {"fineweb", "datasets_app"},
    # Set-up that spans apps (a new team with its connections, the demo data) sits on top.
    "onboarding": {"fineweb", "datasets_app", "providers", "jobs", "localtuner", "compare", "review"},
}
# Third-party packages a layer must not import.
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {"localtuner.engine": {"django"}}

# Imports being removed on other branches: (file, imported module) -> why it is tolerated for now.
KNOWN: dict[tuple[str, str], str] = {}


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to, or None for code outside the apps."""
    if module == "localtuner.engine" or module.startswith("localtuner.engine."):
        return "localtuner.engine"
    top = module.split(".", 1)[0]
    return top if top in ALLOWED else None


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in `tree`, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
    return found


def violations(root: Path = ROOT) -> list[str]:
    """One line per import against the allowed direction, as `file:line: what is wrong`."""
    problems: list[str] = []
    seen_known: set[tuple[str, str]] = set()
    # Every Django app at the top level must have a place in the picture.
    for apps_py in sorted(root.glob("*/apps.py")):
        if apps_py.parent.name not in ALLOWED:
            problems.append(
                f"{apps_py.parent.name}/: an app the import check does not know; give it a layer in "
                "ALLOWED (scripts/check_imports.py) and a place in docs/architecture.md"
            )
    for top in sorted(name for name in ALLOWED if "." not in name and (root / name).is_dir()):
        for path in sorted((root / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            rel = path.relative_to(root).as_posix()
            module = module_name(path, root)
            source_layer = layer_of(module)
            assert source_layer is not None
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
            for line, target in imported_modules(tree, module, path.name == "__init__.py"):
                target_layer = layer_of(target)
                if target_layer is None:
                    if target.split(".", 1)[0] in FORBIDDEN_THIRD_PARTY.get(source_layer, set()):
                        problems.append(f"{rel}:{line}: {module} imports {target}; {source_layer} must not")
                    continue
                if target_layer == source_layer or target_layer in ALLOWED[source_layer]:
                    continue
                if (rel, target) in KNOWN:
                    seen_known.add((rel, target))
                    continue
                others = sorted(ALLOWED[source_layer])
                rule = f"may import only {', '.join(others)}" if others else "may import no other app"
                problems.append(f"{rel}:{line}: {module} imports {target}, but {source_layer} {rule}")
    # Test helpers live in modules (tests/factories.py, tests/fakes/, ...); conftest files hold
    # fixtures only, and no test imports one.
    tests_dir = root / "tests"
    for path in sorted(tests_dir.rglob("*.py")) if tests_dir.is_dir() else []:
        rel = path.relative_to(root).as_posix()
        module = module_name(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for line, target in imported_modules(tree, module, path.name == "__init__.py"):
            if target.rsplit(".", 1)[-1] == "conftest":
                problems.append(
                    f"{rel}:{line}: {module} imports {target}; move what it needs into tests/factories.py, "
                    "tests/fakes/ or another helper module"
                )
    if root == ROOT:  # a tolerated import that is gone should leave the list too
        for rel, target in sorted(set(KNOWN) - seen_known):
            problems.append(
                f"{rel}: no longer imports {target}; remove it from KNOWN in scripts/check_imports.py"
            )
    return problems


def main() -> int:
    problems = violations()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) with the direction of imports (see docs/architecture.md).")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
