"""The notebooks: py:percent sources and committed .ipynb stay in sync, carry a parameters cell,
have no outputs, and fail at once, naming the valid values, on a bad parameter."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import papermill as pm
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("*.py"))


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_every_source_has_a_notebook():
    assert SOURCES, "no notebooks found"
    for py in SOURCES:
        assert py.with_suffix(".ipynb").exists(), f"{py.name} has no paired .ipynb"


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_pair_in_sync(py: Path):
    """The committed .ipynb has exactly the cells of its py:percent source."""
    source = jupytext.read(py)
    committed = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
    assert _cells(source) == _cells(committed), f"run `jupytext --sync {py}`"


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_committed_notebook_is_clean_and_parameterised(py: Path):
    nb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "profile" in tagged[0].source


@pytest.mark.parametrize("notebook, parameters, message", [
    ("01_train", {"model": "resnet", "profile": "smoke"}, "valid models: cnn, binary_cnn"),
    ("01_train", {"model": "cnn", "profile": "huge"}, "valid profiles: smoke, default, paper"),
    ("02_clean", {"profile": "huge"}, "valid profiles: smoke, default, paper"),
    ("03_attacks", {"norm": "l1", "profile": "smoke"}, "valid norms: l0, l2, linf"),
    ("03_attacks", {"norm": "l2", "profile": "smoke", "models": "cnn, resnet"}, "valid models: cnn,"),
    ("03_attacks", {"norm": "l0", "profile": "smoke", "attacks": "FGSM"},
     "valid: Salt&Pepper Noise, Pointwise Attack, Latent Descent"),
    ("03_attacks", {"norm": "l2", "profile": "huge"}, "valid profiles: smoke, default, paper"),
    ("04_primer", {"profile": "huge"}, "valid profiles: smoke, default, paper"),
    ("05_results", {"profile": "huge"}, "valid profiles: smoke, default, paper"),
    ("05_results", {"profile": "smoke"}, "run notebooks/03_attacks"),
    ("06_appendix", {"profile": "huge"}, "valid profiles: smoke, default, paper"),
    ("03_attacks", {"norm": "l2", "profile": "smoke", "models": "abs"},
     "train them with `make train-abs PROFILE=smoke`"),
    ("07_distal", {"profile": "huge"}, "valid profiles: smoke, default, paper"),
    ("07_distal", {"profile": "smoke", "models": "cnn, resnet"}, "valid models: cnn,"),
    ("07_distal", {"profile": "smoke", "models": "madry"}, "`make train-madry PROFILE=smoke`"),
])
def test_bad_parameter_fails_fast(tmp_path: Path, monkeypatch, notebook: str, parameters: dict,
                                  message: str):
    monkeypatch.setenv("ABSNB_ARTIFACTS", str(tmp_path / "empty"))  # no trained weights at all
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(NOTEBOOKS / f"{notebook}.ipynb", tmp_path / "out.ipynb",
                            parameters=parameters, cwd=str(NOTEBOOKS), kernel_name="python3",
                            progress_bar=False)
    assert message in str(err.value)
    # cells run: the defaults, the injected parameters, then the first cell of work must fail
    assert err.value.exec_count == 3, "the error must come before any work"
