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


def test_stage_times_list_the_steps_that_did_work_with_their_commit(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    first = {"commit": "a" * 40, "started": "2026-12-06T10:00:00Z",
             "steps": {"clean abs": {"seconds": 540.0, "finished": "x"}}}
    resumed = {"commit": "b" * 40, "started": "2026-12-06T12:00:00Z",
               "steps": {"clean abs": {"seconds": 2.0, "finished": "x"},  # stored: reused
                         "attacks l2": {"seconds": 4125.3, "finished": "x"},
                         "train abs": {"seconds": 3000.0, "finished": "x", "superseded": "another recipe"}}}
    path = artifacts.profile_dir("p") / "provenance" / "stage_x.json"
    artifacts.save_json({"runs": [first, resumed]}, path)
    table = provenance.stage_times("p")
    assert table["step"].tolist() == ["clean abs", "attacks l2"]
    assert table["minutes"].tolist() == [9.0, 68.8] and table["commit"].tolist() == ["aaaaaaa", "bbbbbbb"]
    assert table["started"].tolist() == ["2026-12-06 10:00", "2026-12-06 12:00"]
    assert provenance.stage_times("other").empty
