"""Shared test settings: the unit tests are small, so one torch thread avoids oversubscribing the CPU
(a training job may share the machine) and is faster than two contending ones."""

from __future__ import annotations

import torch

torch.set_num_threads(1)
