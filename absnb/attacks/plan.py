"""A norm's attacks as a plan of independent tasks, run in this process or on a Dask cluster.

A task is one attack on one batch of one model's samples. The tasks of a (model, batch) form a chain
in the attacks' execution order (`registry.execution_order`), so an attack that starts from the best
adversarial so far (`registry.starts_from`) gets the earlier attacks' results on the same samples
from the task before it. Chains share nothing but the artifact store: they run in any order, on any
worker. Every task reads its result back if it is stored (`absnb.attacks.store`), so rerunning a plan
skips finished work and an interrupted run resumes; each batch seeds itself, so the results do not
depend on the executor.

Executors (`run`): this process (`workers=1`); a Dask `LocalCluster` with one process per core
and one torch thread each (the default); or an existing Dask cluster, given by its scheduler address
(`scheduler=` or ABSNB_SCHEDULER=tcp://host:8786), whose workers must run this code and see the same
artifact directory (ABSNB_ARTIFACTS on shared storage).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import torch
from tqdm import tqdm

from absnb import artifacts, data, profiles, runtime
from absnb.attacks.foolbox_attacks import Start
from absnb.attacks.registry import ATTACKS, AttackSpec, applies, execution_order, starts_from
from absnb.attacks.run import Target
from absnb.attacks.selection import COST_ORDER, Request, select_samples
from absnb.attacks.store import batch_path, best_start, finish_pair, pair_settings, run_batch
from absnb.models import inference_key, load, weights_digest
from absnb.vocabulary import Norm


class TaskFailed(RuntimeError):
    """An attack task raised: the message names the model, the attack and the batch."""


@dataclass(frozen=True)
class Task:
    """One attack on one batch of one model's samples (everything a worker needs, all picklable)."""

    profile: profiles.Profile  # loaded once where the run starts (`selection.parse_request`), then carried
    norm: Norm
    model: str
    attack: str
    index: int  # the batch's number among the model's batches
    samples: tuple[int, ...]
    before: tuple[str, ...]  # the attacks earlier in this batch's chain
    n_samples: int | None
    digests: tuple[tuple[str, str], ...]  # weights digests of the model and the substitute
    force: bool

    @property
    def label(self) -> str:
        return f"{self.model} · {self.attack} · batch {self.index}"


def plan(request: Request, n_samples: int | None = None, seed: int = 0,
         force: bool = False) -> list[list[Task]]:
    """The chains of tasks of a request, the most expensive models first. A batch's chain is every
    applicable attack of the norm in execution order (the costly ones only in the batches that start
    within the budget's first `costly_samples` samples); a request for some attacks keeps their tasks,
    each still knowing the full chain before it, so it starts from what a full run would start from."""
    prof, norm = request.profile, request.norm
    labels = data.load_split("test")[1]
    requested = {s.name for s in request.specs}
    chains = []
    for name in sorted(request.models, key=COST_ORDER.index):
        budget = _budget(prof, name, n_samples)
        specs = execution_order([s for s in ATTACKS[norm] if applies(s, name)])
        digests = tuple((m, weights_digest(prof.name, m)) for m in (name, "substitute"))
        for index, batch in enumerate(select_samples(seed, budget.samples, labels).split(budget.batch_size)):
            chosen = [s for s in specs if not s.costly or index * budget.batch_size < budget.costly_samples]
            names = [s.name for s in chosen]
            chains.append([Task(prof, norm, name, spec.name, index, tuple(batch.tolist()),
                                tuple(names[:k]), n_samples, digests, force)
                           for k, spec in enumerate(chosen) if spec.name in requested])
    return [chain for chain in chains if chain]


def _budget(prof: profiles.Profile, model: str, n_samples: int | None) -> profiles.AttackBudget:
    budget = prof.budget(model)
    return budget if n_samples is None else dataclasses.replace(budget, samples=n_samples)


def spec_named(norm: Norm, name: str) -> AttackSpec:
    """The registry's attack `name` of `norm`."""
    return next(spec for spec in ATTACKS[norm] if spec.name == name)


@functools.lru_cache(maxsize=1)
def _test_set(device: str) -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(t.to(device) for t in data.load_split("test"))


_MODELS: dict[tuple[str, str, str, str], torch.nn.Module] = {}


def _model(prof: profiles.Profile, name: str, digest: str, device: str) -> torch.nn.Module:
    """A worker's copy of a trained model, loaded once per process (keyed by its weights' digest;
    the last four are kept)."""
    key = (prof.name, name, digest, device)
    if key not in _MODELS:
        while len(_MODELS) >= 4:
            _MODELS.pop(next(iter(_MODELS)))
        _MODELS[key] = load(name, prof).to(device)
    return _MODELS[key]


def run_task(task: Task, earlier: dict[str, dict] | None, threads: int | None = None) -> dict[str, dict]:
    """Run (or read back) one task; returns the results of its chain so far, by attack."""
    try:
        return _run_task(task, earlier or {}, threads)
    except Exception as error:  # re-raised with the task named, from whichever worker ran it
        raise TaskFailed(f"{task.label} ({task.norm}, profile {task.profile.name}): "
                         f"{type(error).__name__}: {error}") from error


def _run_task(task: Task, earlier: dict[str, dict], threads: int | None) -> dict[str, dict]:
    runtime.keep_freed_memory()
    if threads is None:
        device = runtime.configure().type
    else:
        torch.set_num_threads(threads)
        device = runtime.device().type
    spec = spec_named(task.norm, task.attack)
    digests = dict(task.digests)
    start = _start(task, spec, earlier)
    images, labels = _test_set(device)
    part = run_batch(
        task.profile.name, spec, task.model,
        lambda: Target(task.model, _model(task.profile, task.model, digests[task.model], device)),
        torch.tensor(task.samples), images, labels,
        lambda: _model(task.profile, "substitute", digests["substitute"], device),
        _budget(task.profile, task.model, task.n_samples), task_settings(task, spec), task.force, start)
    return earlier | {task.attack: part}


def task_settings(task: Task, spec: AttackSpec) -> dict:
    """Everything the task's stored result depends on apart from its samples and start (`pair_settings`)."""
    budget = _budget(task.profile, task.model, task.n_samples)
    return pair_settings(task.norm, spec, budget, dict(task.digests), task.model,
                         inference_key(task.profile, task.model))


class StartMissing(RuntimeError):
    """An attack starts from an earlier attack's results that neither this run nor the store has."""


def _start(task: Task, spec: AttackSpec, earlier: dict[str, dict]) -> Start | None:
    """Per sample, the best verified adversarial of the attacks before `spec` in the batch's full chain
    that it starts from; None if it starts from none (then as foolbox would). An origin this run did not
    compute is read from the store, i.e. the result a full run stored for the same batch and settings;
    if there is none, the task refuses: it never starts from anything else."""
    origins = starts_from(spec, [spec_named(task.norm, name) for name in task.before])
    if not origins:
        return None
    parts = {s.name: earlier[s.name] if s.name in earlier else _stored(task, s, earlier) for s in origins}
    return best_start({name: part["distance"] for name, part in parts.items()},
                      {name: part["adv"] for name, part in parts.items()})


def _stored(task: Task, spec: AttackSpec, earlier: dict[str, dict]) -> dict:
    """The stored result of the earlier attack `spec` on `task`'s batch (its own start read the same way)."""
    origin = dataclasses.replace(task, attack=spec.name, before=task.before[:task.before.index(spec.name)])
    path = batch_path(task.profile.name, task_settings(origin, spec), task.model, torch.tensor(task.samples),
                      _start(origin, spec, earlier))
    if not path.exists():
        raise StartMissing(f"{task.attack} starts from the results of {spec.name} on {task.model} batch "
                           f"{task.index}, which are not stored for the current settings; run "
                           f"{spec.name} too (or the whole norm) first")
    return artifacts.load_torch(path)


def execute(chains: list[list[Task]], client=None, threads: int | None = None) -> list[dict[str, dict]]:
    """Every chain's results (by attack), in the order of `chains`: in this process, or on a Dask
    client's workers with `threads` torch threads per task (None: the worker's default)."""
    total = sum(len(chain) for chain in chains)
    with tqdm(total=total, desc="attack tasks", leave=False) as bar:
        if client is None:
            return list(_run_here(chains, bar))
        return _run_on(client, chains, threads, bar)


def _run_here(chains: list[list[Task]], bar: tqdm) -> Iterator[dict[str, dict]]:
    for chain in chains:
        results: dict[str, dict] = {}
        for task in chain:
            results = run_task(task, results)
            bar.update()
        yield results


def _run_on(client, chains: list[list[Task]], threads: int | None, bar: tqdm) -> list[dict[str, dict]]:
    from distributed import as_completed

    futures, ends = [], []
    for chain in chains:
        previous = None
        for task in chain:
            previous = client.submit(run_task, task, previous, threads, pure=False,
                                     key=f"{task.label.replace(' · ', '/')}-{os.urandom(4).hex()}")
            futures.append(previous)
        ends.append(previous)
    try:
        for future in as_completed(futures):
            if future.status == "error":
                future.result()  # raises the task's TaskFailed
            bar.update()
        return [{} if end is None else end.result() for end in ends]
    finally:
        client.cancel(futures)


def assemble(chains: list[list[Task]], results: list[dict[str, dict]]
             ) -> dict[tuple[str, str], pd.DataFrame]:
    """Join every (model, attack) pair's batches (in sample order; a costly attack has fewer), store
    the pairs, and return their per-sample tables."""
    frames: dict[tuple[str, str], pd.DataFrame] = {}
    labels = data.load_split("test")[1]
    pairs: dict[tuple[str, str], list[tuple[Task, dict[str, dict]]]] = {}
    for chain, result in zip(chains, results):
        for task in chain:
            pairs.setdefault((task.model, task.attack), []).append((task, result))
    for (model, attack), batches in pairs.items():
        batches.sort(key=lambda item: item[0].index)
        first = batches[0][0]
        spec = spec_named(first.norm, attack)
        samples = torch.tensor([s for task, _ in batches for s in task.samples])
        starts = [_start(task, spec, result) for task, result in batches]
        if len({s is None for s in starts}) > 1:
            raise ValueError(f"{model} · {attack}: some batches have a start and some not")
        start = None if starts[0] is None else tuple(torch.cat(parts) for parts in zip(*starts))
        frames[(model, attack)] = finish_pair(first.profile.name, model, samples, labels,
                                              task_settings(first, spec),
                                              [result[attack] for _, result in batches], start, first.force)
    return frames


def run(request: Request, n_samples: int | None = None, seed: int = 0, force: bool = False,
        workers: int | None = None, scheduler: str | None = None) -> pd.DataFrame:
    """Every applicable attack of the request against each of its models; the tidy per-sample table.

    `scheduler` (or ABSNB_SCHEDULER) runs the plan on an existing Dask cluster; else `workers`
    processes of a LocalCluster (default `runtime.workers()`, one per core) or, with one worker, this
    process."""
    removed = artifacts.remove_stale_tmp(artifacts.profile_dir(request.profile.name))
    if removed:
        print(f"removed {len(removed)} temporary files left by an interrupted run")
    chains = plan(request, n_samples, seed, force)
    scheduler = scheduler or os.environ.get("ABSNB_SCHEDULER")
    workers = runtime.workers() if workers is None else workers
    if scheduler is None and workers <= 1:
        results = execute(chains)
    else:
        with _client(scheduler, workers) as client:
            results = execute(chains, client, threads=None if scheduler else 1)
    frames = assemble(chains, results)
    ordered = [frames[(m, s.name)] for m in request.models for s in request.specs if (m, s.name) in frames]
    return pd.concat(ordered, ignore_index=True) if ordered else pd.DataFrame()


class _client:
    """A Dask client of an existing cluster, or of a LocalCluster of `workers` single-threaded
    processes that lives as long as the client; prints the dashboard's address."""

    def __init__(self, scheduler: str | None, workers: int) -> None:
        self.scheduler, self.workers, self.cluster = scheduler, workers, None

    def __enter__(self):
        from distributed import Client, LocalCluster

        if self.scheduler:
            self.client = Client(self.scheduler)
        else:
            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                        dashboard_address=":0", memory_limit=0)
            self.client = Client(self.cluster)
        print(f"Dask: {len(self.client.scheduler_info()['workers'])} workers, "
              f"dashboard {self.client.dashboard_link}")
        return self.client

    def __exit__(self, *exc) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
