"""The per-image records of ABS inference and the diagnosis built on them: the records must be what the
model computes (its predictions, the two parts of its ELBO), and the comparison must count right."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from absnb import data, diagnosis, evaluate, train
from absnb.models import load
from absnb.models.abs import ABS, N_PIXELS


@pytest.fixture
def scored(tiny):
    """Our smoke ABS trained and its records computed, on 24 test images."""
    tiny["profile"] = dataclasses.replace(tiny["profile"], eval_samples=24)
    train.train("abs", "smoke")
    return evaluate.image_records("abs", "smoke"), tiny["profile"]


def test_records_are_the_models_predictions_and_elbo_parts(scored):
    records, prof = scored
    model = load("abs", prof)
    x, y = data.load_split("test")
    x, y = x[:24], y[:24]
    assert torch.equal(records["labels"], y)
    with torch.no_grad():
        logits = model(x)
        elbo, z = model.search(x)
    assert torch.equal(records["elbo"].argmax(1), logits.argmax(1))
    assert torch.allclose(records["elbo"], elbo, atol=1e-6)
    squared_error = (x.reshape(24, 1, N_PIXELS) - model.reconstruct(z)).pow(2).sum(-1)
    recon = -records["elbo"] * N_PIXELS - records["kl"]
    assert torch.allclose(recon, squared_error, rtol=1e-3, atol=1e-2)
    assert (records["bank_elbo"] <= records["elbo"] + 1e-6).all()  # the steps only improve on the start


def test_the_clean_score_comes_from_the_records_without_searching_again(scored, monkeypatch):
    records, _ = scored
    monkeypatch.setattr(ABS, "search", lambda *a: pytest.fail("searched again"))
    score = evaluate.score_model("abs", "smoke")
    assert score["accuracy"] == evaluate.accuracy(records["elbo"], records["labels"])
    assert score["bank_accuracy"] == evaluate.accuracy(records["bank_elbo"], records["labels"])


def test_records_are_recomputed_when_the_inference_changes(scored, tiny):
    records, prof = scored
    tiny["profile"] = dataclasses.replace(prof, abs=dataclasses.replace(prof.abs, steps=2))
    again = evaluate.image_records("abs", "smoke")
    assert again["key"]["settings"]["inference"]["steps"] == 2
    assert records["key"]["settings"]["inference"]["steps"] == 1


def _records(labels, final, bank, gamma=None) -> dict[str, torch.Tensor]:
    """Hand-made records whose every answer is known: the predicted classes after and before the steps."""
    n = len(labels)
    elbo, bank_elbo = torch.full((n, 10), -1.0), torch.full((n, 10), -1.0)
    elbo[torch.arange(n), torch.tensor(final)] = -0.5
    bank_elbo[torch.arange(n), torch.tensor(bank)] = -0.5
    return {"labels": torch.tensor(labels), "elbo": elbo, "bank_elbo": bank_elbo,
            "kl": torch.full((n, 10), 2.0), "gamma": torch.ones(10) if gamma is None else gamma}


def test_summary_counts_what_the_steps_fix_and_break():
    rec = _records(labels=[0, 1, 2, 3, 4], final=[0, 1, 7, 3, 9], bank=[5, 1, 2, 3, 9])
    row = diagnosis.summary({"A": rec}).iloc[0]
    assert (row["errors"], row["bank-start errors"]) == (2, 2)
    assert (row["fixed by the steps"], row["broken by the steps"], row["wrong either way"]) == (1, 1, 1)
    assert row["accuracy (%)"] == 60.0


def test_margins_confusions_and_per_class_parts():
    a = _records(labels=[7, 7, 7, 3], final=[2, 2, 7, 5], bank=[2, 2, 7, 5])
    b = _records(labels=[7, 7, 7, 3], final=[7, 9, 7, 3], bank=[7, 9, 7, 3])
    records = {"ours": a, "theirs": b}
    assert diagnosis.margins(a).tolist() == pytest.approx([-0.5 * N_PIXELS, -0.5 * N_PIXELS, 0.5 * N_PIXELS,
                                                          -0.5 * N_PIXELS])
    table = diagnosis.confusions(records).set_index("true → predicted")
    assert table.loc["7 → 2"].tolist() == [2, 0]
    assert table.loc["7 → 9"].tolist() == [0, 1]
    assert table.index[0] == "7 → 2"  # the most frequent first
    assert diagnosis.shared_errors(records) == 1
    parts = diagnosis.per_class(records)
    assert parts.loc[7, ("errors", "ours")] == 2
    assert parts.loc[7, ("prior term", "theirs")] == 2.0
    assert parts.loc[3, ("reconstruction error", "ours")] == pytest.approx(N_PIXELS - 2.0)  # true: -1
    wrong = parts.loc[3, ("best wrong class's reconstruction error", "ours")]
    assert wrong == pytest.approx(0.5 * N_PIXELS - 2.0)  # class 5 won with -0.5


def test_gamma_decides_the_prediction():
    rec = _records(labels=[0], final=[0], bank=[0])
    rec["elbo"][0, 1] = -0.55
    assert diagnosis.summary({"A": rec}).iloc[0]["errors"] == 0
    rec["gamma"] = torch.ones(10)
    rec["gamma"][1] = 0.8  # -0.55 * 0.8 = -0.44 beats -0.5
    assert diagnosis.summary({"A": rec}).iloc[0]["errors"] == 1


def test_the_figure_has_the_margin_tail_the_reconstruction_errors_and_one_error_matrix_per_model():
    a = _records(labels=list(range(10)) * 2, final=list(range(10)) + [1] * 10, bank=list(range(10)) * 2)
    fig = diagnosis.figure({"ours": a, "theirs": _records(list(range(10)), list(range(10)), list(range(10)))})
    assert len(fig.axes) == 4
    assert fig.axes[2].get_title() == "ours: 9 errors"
    tail = fig.axes[0].lines[0].get_ydata()
    assert tail[-1] == 100.0 and tail[8] == 45.0  # 9 of 20 images have a negative margin


def test_load_diagnoses_against_the_released_model(scored):
    records = diagnosis.load("smoke")
    assert list(records) == ["ABS", "ABS (released)"]
    assert torch.equal(records["ABS"]["elbo"], scored[0]["elbo"])
