"""The attack registry reproduces Table 1's layout: rows per norm, and the cells the paper leaves empty."""

from __future__ import annotations

import pandas as pd
import pytest

from absnb.attacks.registry import (
    ATTACKS,
    applies,
    attack_names,
    execution_order,
    is_paper,
    select,
    starts_from,
)
from absnb.evaluate import PAPER_TABLE1
from absnb.vocabulary import DISPLAY_NAMES

NORM_OF = {"l2": "L2", "linf": "Linf", "l0": "L0"}


@pytest.mark.parametrize("norm", list(ATTACKS))
def test_rows_and_empty_cells_match_the_paper(norm: str):
    paper = pd.read_csv(PAPER_TABLE1, dtype=str, keep_default_na=False)
    paper = paper[(paper.norm == NORM_OF[norm]) & ~paper.attack.str.startswith("All")]
    paper_names = {s.name for s in ATTACKS[norm] if s.paper}
    assert set(paper.attack) == paper_names - {"Latent Descent"}
    for row in paper.itertuples():
        spec = next(s for s in ATTACKS[norm] if s.name == row.attack)
        model = next(k for k, v in DISPLAY_NAMES.items() if v == row.model)
        assert applies(spec, model) == (row.median_distance != "n/a"), (row.attack, row.model)


def test_latent_descent_only_against_abs_models():
    for norm in ATTACKS:
        spec = select(norm, ["Latent Descent"])[0]
        assert spec.models == ("abs", "binary_abs", "abs_released", "binary_abs_released")


def test_unknown_attack_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: Salt&Pepper Noise, Pointwise Attack, Latent Descent"):
        select("l0", ["FGSM"])


def test_unknown_norm_is_refused():
    with pytest.raises(ValueError, match="valid norms"):
        select("l1")


def test_adaptive_attacks_run_against_every_model_apart_from_the_papers():
    adaptive = {norm: [s.name for s in specs if not s.paper and s.family == "adaptive"]
                for norm, specs in ATTACKS.items()}
    assert adaptive == {"l2": ["DDN", "FMN", "Brendel-Bethge"], "linf": ["FMN", "Brendel-Bethge"],
                        "l0": ["FMN", "Brendel-Bethge"]}
    for norm, names in adaptive.items():
        for spec in select(norm, names):
            assert all(applies(spec, m) for m in DISPLAY_NAMES) and spec.gradient == "real"
            assert not is_paper(norm, spec.name)
    assert is_paper("l2", "Latent Descent") and is_paper("linf", "MIM w/ GE")


@pytest.mark.parametrize("norm", list(ATTACKS))
def test_every_attack_runs_after_the_attacks_it_starts_from(norm):
    order = execution_order(list(ATTACKS[norm]))
    assert sorted(s.name for s in order) == sorted(attack_names(norm))
    for i, spec in enumerate(order):
        earlier = starts_from(spec, order[:i])
        later = starts_from(spec, order)  # nothing it starts from may come after it
        assert earlier == later
        if spec.start == "paper":  # Boundary, Pointwise: the paper's attacks only, never an adaptive one
            assert earlier and all(s.paper for s in earlier)
        if spec.start == "all":  # Brendel-Bethge: every attack before it, the adaptive ones included,
            # but Flip Search (added after Brendel-Bethge's results were stored, which stay valid)
            assert {s.name for s in earlier} == {s.name for s in order[:i]} - {"Flip Search"}


def test_flip_search_is_beyond_the_paper_and_only_for_the_binarising_models():
    for norm in ATTACKS:
        spec = select(norm, ["Flip Search"])[0]
        assert not spec.paper and spec.models == ("binary_cnn", "binary_abs", "binary_abs_released")
        assert not spec.costly and spec.start is None
