"""The package's shape: sub-packages import only downward, and only through each other's faces."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ner_jax"
# Bottom to top: a sub-package may import those before it, never those after it.
LAYERS = (
    "files",
    "data",
    "model",
    "verdict",
    "features",
    "head",
    "detector",
    "index",
    "evaluation",
    "serve",
    "cli",
)


def imported_modules(path: Path) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, module, names) of every ner_jax import in a file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, tuple(a.name for a in node.names)))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, ()) for a in node.names]
    return [(line, m, names) for line, m, names in found if m.split(".")[0] == "ner_jax"]


def sub_package_modules() -> list[tuple[str, Path]]:
    return [(p.relative_to(PACKAGE).parts[0], p) for p in sorted(PACKAGE.glob("*/**/*.py"))]


def test_every_sub_package_is_a_layer():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(LAYERS)


def test_sub_packages_import_downward_through_faces():
    wrong = []
    for own, path in sub_package_modules():
        for line, module, names in imported_modules(path):
            parts = module.split(".")
            where = f"{path.relative_to(PACKAGE.parent)}:{line}: {module}"
            if len(parts) == 1:  # the top level loads nothing but its version eagerly
                if names != ("__version__",):
                    wrong += [f"{where}: import the sub-package, not the top level {names}"]
            elif parts[1] == own:
                submodules = all((PACKAGE / own / f"{n}.py").is_file() for n in names)
                if (
                    len(parts) == 2
                    and path.name not in ("__init__.py", "__main__.py")
                    and not submodules
                ):
                    wrong += [f"{where}: a module reaches its own package through its face"]
            elif parts[1] not in LAYERS or LAYERS.index(parts[1]) > LAYERS.index(own):
                wrong += [f"{where}: imports upward (from {own})"]
            elif len(parts) > 2:
                wrong += [f"{where}: reaches into {parts[1]}'s modules; import its face"]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("layer", LAYERS)
def test_faces_export_what_they_list(layer):
    face = importlib.import_module(f"ner_jax.{layer}")
    missing = [n for n in getattr(face, "__all__", []) if not hasattr(face, n)]
    assert not missing


def test_top_level_names_resolve_lazily():
    import ner_jax

    assert {"Retriever", "build_corpus_index", "load_model", "evaluate"} <= set(ner_jax.__all__)
    for name in ner_jax.__all__:
        assert getattr(ner_jax, name) is not None
    with pytest.raises(AttributeError, match="no_such_name"):
        ner_jax.no_such_name  # noqa: B018


def test_accelerator_extras_pin_the_base_jax_version():
    import tomllib

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]
    (base,) = [d for d in project["dependencies"] if d.startswith("jax==")]
    version = base.removeprefix("jax==")
    extras = project["optional-dependencies"]
    assert extras["cuda12"] == [f"jax[cuda12]=={version}"]
    assert extras["tpu"] == [f"jax[tpu]=={version}"]
