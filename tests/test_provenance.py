"""The appendix's compute table sums what each stored result recorded, stage by stage."""

from __future__ import annotations

import torch

from absnb import artifacts, provenance


def test_compute_times_sum_the_stored_seconds_per_stage(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    artifacts.save_json({"wall_seconds": 120}, artifacts.log_path("p", "cnn"))
    artifacts.save_json({"wall_seconds": 60}, artifacts.log_path("p", "abs"))
    artifacts.save_json({"seconds": 30}, artifacts.results_path("p", "clean/cnn.json"))
    artifacts.save_json({"seconds": 90}, artifacts.results_path("p", "attacks/l2/cnn/fgm.json"))
    artifacts.save_json({"seconds": 150}, artifacts.results_path("p", "attacks/l2/abs/boundary_attack.json"))
    artifacts.save_torch({"seconds": 600.0}, artifacts.results_path("p", "distal/abs.pt"))
    artifacts.save_torch({"seconds": 999.0, "state": torch.zeros(1)},
                         artifacts.results_path("p", "distal/cnn.partial.pt"))
    table = provenance.compute_times("p").set_index("stage")
    assert table.loc["training (7 networks)", "minutes"] == 3.0
    assert table.loc["attacks l2", "minutes"] == 4.0 and table.loc["attacks l2", "results"] == 2
    assert table.loc["attacks l0", "results"] == 0
    assert table.loc["distal adversarials", "minutes"] == 10.0, "an unfinished search is not counted"
