"""The sentences the book prints about a run say what was measured, with its settings."""

from __future__ import annotations

from absnb import report


def test_madry_robustness_names_both_pgd_evaluations_and_the_released_model():
    score = {"accuracy": 0.9851, "pgd_steps": 40, "pgd_eps": 0.3, "pgd_step_size": 0.01,
             "pgd_samples": 10000, "pgd_accuracy": 0.9012, "restarts_steps": 100, "restarts": 10,
             "restarts_samples": 1000, "restarts_accuracy": 0.884}
    text = report.madry_robustness(score)
    assert "**98.51%**" in text and "PGD-40" in text and "**90.12%**" in text
    assert "PGD-100 from 10 random starts" in text and "first 1,000" in text and "**88.40%**" in text
    assert "(95% interval 86.3–90.2%)" in text  # 884 of 1,000: the sampling error of a 1,000-image score
    assert "89.6%" in text  # the released model's number, for comparison
    older = {k: v for k, v in score.items() if not k.startswith("restarts")}
    assert "random starts (an image" not in report.madry_robustness(older)  # a score from before


def test_uncertainty_table_gives_each_norm_its_own_sample_count():
    import numpy as np
    import pandas as pd

    from absnb.results import ALL_PAPER, all_attacks, uncertainty

    def rows(norm: str, distances: list[float]) -> pd.DataFrame:
        n = len(distances)
        return pd.DataFrame({"model": "abs", "norm": norm, "attack": "Pointwise Attack",
                             "sample": np.arange(n), "label": np.arange(n) % 10,
                             "prediction": np.zeros(n, dtype=int), "distance": distances, "success": True})

    frame = pd.concat([rows("l2", [1.0] * 10), rows("linf", [0.3] * 50)])
    table = report.uncertainty_table(uncertainty(all_attacks(frame)), ALL_PAPER)
    assert table.loc["L2 n", "ABS"] == "10" and table.loc["L∞ n", "ABS"] == "50"
    assert "n" not in table.index


def test_training_description_of_a_model_trained_under_an_adopted_variant(tmp_path, monkeypatch):
    """A kept run's ABS was trained as `default+epochs60`, a variant since folded into `default` and
    removed: its page names the variant and describes the profile the book is built for."""
    from absnb import artifacts, profiles

    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    log = {"model": "abs", "seed": 0, "profile": "default+epochs60", "wall_seconds": 3012.0}
    default = profiles.load("default")
    text = report.training_description(log, default)
    assert "Profile **default**" in text and "variant `default+epochs60`" in text and "50.2 min" in text
    assert "variant" not in report.training_description({**log, "profile": "default"}, default)


def test_sample_counts_say_which_attacks_ran_on_fewer_samples():
    import numpy as np
    import pandas as pd

    def rows(model: str, attack: str, n: int) -> pd.DataFrame:
        return pd.DataFrame({"model": model, "attack": attack, "sample": np.arange(n)})

    frame = pd.concat([rows("abs", "DDN", 50), rows("abs", "Boundary Attack", 10),
                       rows("abs_released", "DDN", 50), rows("abs_released", "Boundary Attack", 10),
                       rows("cnn", "DDN", 50), rows("cnn", "Boundary Attack", 50)])
    text = report.sample_counts(frame)
    assert "ABS, ABS (released), CNN: **50**." in text
    assert "On ABS, ABS (released): Boundary Attack on the first **10**" in text
    assert "CNN:" not in text.split("On ", 1)[1], "the CNN ran every attack on all its samples"
