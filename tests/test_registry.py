"""The attack registry reproduces Table 1's layout: rows per norm, and the cells the paper leaves empty."""

from __future__ import annotations

import pandas as pd
import pytest

from absnb.attacks.registry import ATTACKS, applies, attack_names, select
from absnb.evaluate import PAPER_TABLE1
from absnb.models import DISPLAY_NAMES

NORM_OF = {"l2": "L2", "linf": "Linf", "l0": "L0"}


@pytest.mark.parametrize("norm", list(ATTACKS))
def test_rows_and_empty_cells_match_the_paper(norm: str):
    paper = pd.read_csv(PAPER_TABLE1, dtype=str, keep_default_na=False)
    paper = paper[(paper.norm == NORM_OF[norm]) & ~paper.attack.str.startswith("All")]
    assert set(paper.attack) == set(attack_names(norm)) - {"Latent Descent"}
    for row in paper.itertuples():
        spec = next(s for s in ATTACKS[norm] if s.name == row.attack)
        model = next(k for k, v in DISPLAY_NAMES.items() if v == row.model)
        assert applies(spec, model) == (row.median_distance != "n/a"), (row.attack, row.model)


def test_latent_descent_only_against_abs_models():
    for norm in ATTACKS:
        spec = select(norm, ["Latent Descent"])[0]
        assert spec.models == ("abs", "binary_abs")


def test_unknown_attack_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: Salt&Pepper Noise, Pointwise Attack, Latent Descent"):
        select("l0", ["FGSM"])


def test_unknown_norm_is_refused():
    with pytest.raises(ValueError, match="valid norms"):
        select("l1")
