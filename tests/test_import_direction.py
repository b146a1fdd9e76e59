"""scripts/check_imports.py, which `make lint` runs: it names the file and line of an import
that points against the apps' direction, wherever the import sits."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_imports", ROOT / "scripts" / "check_imports.py")
assert _spec is not None and _spec.loader is not None
check_imports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_imports)


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_project_imports_only_in_the_allowed_direction():
    assert check_imports.violations() == []


def test_the_allowed_directions_have_no_cycle():
    """Following the allowed edges from any layer never leads back to it."""

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in check_imports.ALLOWED.get(start, set()):
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    assert [layer for layer in check_imports.ALLOWED if reaches(layer, layer, set())] == []


def test_it_names_the_file_and_line_of_an_import_back_up_the_picture_even_inside_a_function(tmp_path):
    root = tree(
        tmp_path,
        {
            "providers/__init__.py": "",
            "providers/views.py": "import os\n\n\ndef f():\n    from jobs.models import Job\n",
            "jobs/models.py": "from providers.models import Connection\nfrom fineweb.lib import env\n",
        },
    )
    assert check_imports.violations(root) == [
        "providers/views.py:5: providers.views imports jobs.models, but providers may import only fineweb, localtuner"
    ]


def test_fineweb_imports_no_app_and_the_engine_neither_django_nor_the_rest(tmp_path):
    root = tree(
        tmp_path,
        {
            "fineweb/accounts/models.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import datasets_app\n",
            "localtuner/engine/data.py": "from django.conf import settings\nfrom ..models import LocalJob\n",
            "localtuner/models.py": "from localtuner.engine import data\nfrom . import keys\n",
        },
    )
    assert check_imports.violations(root) == [
        "fineweb/accounts/models.py:3: fineweb.accounts.models imports datasets_app, but fineweb may import no other app",
        "localtuner/engine/data.py:1: localtuner.engine.data imports django.conf; localtuner.engine must not",
        "localtuner/engine/data.py:2: localtuner.engine.data imports localtuner.models, but localtuner.engine may import no other app",
    ]


def test_a_new_app_must_be_given_a_place_in_the_picture(tmp_path):
    root = tree(tmp_path, {"reviews/apps.py": "", "reviews/models.py": "from jobs.models import Job\n"})
    assert check_imports.violations(root) == [
        "reviews/: an app the import check does not know; give it a layer in ALLOWED "
        "(scripts/check_imports.py) and a place in docs/architecture.md"
    ]


def test_it_names_a_test_that_imports_a_conftest(tmp_path):
    root = tree(
        tmp_path,
        {
            "tests/__init__.py": "",
            "tests/conftest.py": "X = 1\n",
            "tests/test_a.py": "from tests.conftest import X\n",
        },
    )
    assert check_imports.violations(root) == [
        "tests/test_a.py:1: tests.test_a imports tests.conftest; move what it needs into tests/factories.py, "
        "tests/fakes/ or another helper module"
    ]
