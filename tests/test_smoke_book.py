"""The smoke profile end to end: `make book PROFILE=smoke` trains every model through papermill,
scores them, and builds the HTML book; a second run reuses everything."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import torch

from absnb import artifacts, table1

ROOT = Path(__file__).resolve().parents[1]
TRAINED = ("cnn", "binary_cnn", "substitute", "nearest", "madry", "abs", "binary_abs")
SCORED = ("cnn", "binary_cnn", "nearest", "madry", "binary_abs", "abs", "abs_released", "binary_abs_released")

pytestmark = pytest.mark.slow


def _make_book(art: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "book", "PROFILE=smoke", f"ARTIFACTS={art}", f"BOOK_OUT={out}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=3600)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("smoke")
    art, out = base / "artifacts", base / "book"
    result = _make_book(art, out)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return art / "smoke", out / "_build" / "html"


def test_every_model_trained_with_a_log(built):
    runs, _ = built
    for name in TRAINED:
        assert (runs / "models" / f"{name}.pt").exists()
        log = json.loads((runs / "logs" / f"{name}.json").read_text())
        assert log["profile"] == "smoke" and log["history"] and log["wall_seconds"] > 0
    assert not any((runs / "checkpoints").glob("*.pt")), "finished runs leave no checkpoint"


def test_clean_scores_for_all_six_models(built):
    runs, _ = built
    for name in SCORED:
        score = json.loads((runs / "results" / "clean" / f"{name}.json").read_text())
        assert score["samples"] == 300 and 0.0 <= score["accuracy"] <= 1.0
    madry = json.loads((runs / "results" / "clean" / "madry.json").read_text())
    assert 0.0 <= madry["pgd_accuracy"] <= madry["accuracy"] + 0.05


def test_executed_notebooks_have_no_errors(built):
    runs, _ = built
    notebooks = sorted((runs / "notebooks").glob("*.ipynb"))
    # clean, primer, three attack norms, results, released, distal, appendix
    assert len(notebooks) == len(TRAINED) + 9
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                assert output.get("output_type") != "error", f"{path.name}: {output.get('evalue')}"


def test_book_pages_exist_and_show_the_table(built):
    _, html = built
    pages = ["book/intro.html", "book/models.html", "book/run/02_clean.html", "book/attacks.html",
             "book/discussion.html", "book/run/04_primer.html", "book/run/05_results.html",
             "book/run/06_appendix.html", "book/run/07_distal.html", "book/run/08_released.html",
             *[f"book/run/01_train_{m}.html" for m in TRAINED],
             *[f"book/run/03_attacks_{n}.html" for n in ("l2", "linf", "l0")]]
    for page in pages:
        assert (html / page).exists(), page
    cnn_page = (html / "book/run/01_train_cnn.html").read_text()
    assert "<title>Training: CNN" in cnn_page, "training pages must carry the model's name"
    clean = (html / "book/run/02_clean.html").read_text()
    for name in ("CNN", "Binary CNN", "Nearest Neighbor", "Madry et al.", "Binary ABS", "ABS"):
        assert re.search(rf"<td[^>]*>{re.escape(name)}</td>", clean), name
    assert "Profile <strong>smoke</strong>" in clean


def test_every_local_link_and_image_resolves(built):
    _, html = built
    broken = []
    pages = [p for p in html.rglob("*.html") if not p.relative_to(html).parts[0].startswith("_")]
    assert len(pages) >= 10
    for page in pages:
        for target in re.findall(r'(?:href|src)="([^"]+)"', page.read_text()):
            if re.match(r"^(https?:|mailto:|#|data:|javascript:)", target):
                continue
            path = target.split("#")[0].split("?")[0]
            if path and not (page.parent / path).resolve().exists():
                broken.append(f"{page.relative_to(html)} -> {target}")
    assert not broken, broken[:20]


def test_rerun_reuses_every_step(built):
    """A second `make book` re-executes no notebook and retrains nothing."""
    runs, html = built
    stamps = {p: p.stat().st_mtime for p in [*(runs / "notebooks").glob("*.ipynb"),
                                             *(runs / "models").glob("*.pt")]}
    result = _make_book(runs.parent, html.parents[1])
    assert result.returncode == 0, result.stdout[-4000:]
    assert "papermill" not in result.stdout
    assert all(p.stat().st_mtime == t for p, t in stamps.items())


def test_attack_results_fill_every_cell_of_table1(built, monkeypatch):
    """Every (norm, attack, model) cell the paper reports has a stored result of ours."""
    runs, _ = built
    frame = pd.concat([pd.read_csv(f) for f in (runs / "results" / "attacks").glob("*/*/*.csv")])
    assert not frame["rejected"].any(), "the smoke run must not store refused adversarials"
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", runs.parent)
    comp = table1.comparison("smoke")
    missing = comp[comp["accuracy_percent_paper"].notna() & comp["accuracy_percent"].isna()]
    assert missing.empty, missing[["norm", "attack", "model"]].to_string()


def test_results_page_shows_table_and_figures(built):
    _, html = built
    page = (html / "book/run/05_results.html").read_text()
    assert "All L2 Attacks" in page and "paper " in page
    images = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert len(images) >= 2, "Figures 2 and 3"
    for src in images:
        assert (html / "book/run" / src).resolve().stat().st_size > 10_000
    assert "Attacks: L∞" in (html / "book/run/03_attacks_linf.html").read_text()


def test_distal_page_shows_every_model_with_its_confidence(built):
    runs, html = built
    page = (html / "book/run/07_distal.html").read_text()
    for name in ("CNN", "Binary CNN", "Nearest Neighbor", "Madry et al.", "Binary ABS", "ABS"):
        assert re.search(rf"<td[^>]*>{re.escape(name)}</td>", page), name
    images = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert images and all((html / "book/run" / src).resolve().exists() for src in images)
    for name in SCORED[:6]:
        record = torch.load(runs / "results" / "distal" / f"{name}.pt", weights_only=True)
        assert record["images"].min() >= 0 and record["images"].max() <= 1
        assert not (runs / "results" / "distal" / f"{name}.partial.pt").exists()


def test_released_page_shows_the_verified_files_and_both_released_models(built):
    _, html = built
    page = (html / "book/run/08_released.html").read_text()
    assert "ABS_9.net" in page and "bb45e988ba1e33cd" in page, "the files and their digests"
    for name in ("ABS (released)", "Binary ABS (released)", "released, incl. adaptive",
                 "ours, incl. adaptive", "paper, All attacks", "our fit on their VAEs"):
        assert name in page, name
    images = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert len(images) >= 2, "Figures 2 and 3 of the released models"


def test_a_copied_run_rebuilds_read_only_into_the_same_book_with_no_computation(built, tmp_path):
    """The kept-run path: the smoke run copied elsewhere, its book built from the executed notebooks
    as they are (nothing executed), with the same results page; a run that lacks a page is refused."""
    runs, html = built
    kept = tmp_path / "kept" / "smoke"
    shutil.copytree(runs, kept)
    out = tmp_path / "out"
    result = subprocess.run(["make", "book-reference", f"REFERENCE={kept}", f"BOOK_OUT={out}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "papermill" not in result.stdout and "nothing recomputed" in result.stdout
    rebuilt = (out / "_build/html/book/run/05_results.html").read_text()
    assert _tables(rebuilt) == _tables((html / "book/run/05_results.html").read_text())
    (kept / "notebooks" / "05_results.ipynb").unlink()
    refused = subprocess.run(["make", "book-reference", f"REFERENCE={kept}", f"BOOK_OUT={out}"], cwd=ROOT,
                             capture_output=True, text=True, timeout=1800)
    assert refused.returncode != 0 and "05_results.ipynb" in refused.stderr


def _tables(page: str) -> list[str]:
    return re.findall(r"<table.*?</table>", page, flags=re.S)
