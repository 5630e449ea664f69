"""A kept run (e.g. reference/default/): check that it can be shown as a book without computing.

`make book-reference` builds the HTML from a kept run's executed notebooks as they are: no notebook is
executed again, so every page shows the run, commit and machine it was computed on. Before that, this
module checks the run is whole: every page's executed notebook is there, and the stored attack
results are exactly those a full run of the profile stores with today's code and settings
(`absnb.attacks.expected`), so a kept run that no longer matches the code is refused, never shown.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd
import yaml

from absnb import artifacts, evaluate, profiles, provenance, results, table1, train
from absnb.attacks import expected
from absnb.paths import ROOT
from absnb.vocabulary import (
    ABS_MODELS,
    ALL_MODELS,
    DISPLAY_NAMES,
    MODELS,
    NORMS,
    RELEASED,
    TRAINED_MODELS,
    Norm,
)

# The executed notebooks of the book (see _toc.yml and the Makefile's BOOK_NBS).
PAGES = ("01_train_cnn", "01_train_binary_cnn", "01_train_substitute", "01_train_nearest",
         "01_train_madry", "01_train_abs", "01_train_binary_abs", "02_clean", "04_primer",
         "03_attacks_l2", "03_attacks_linf", "03_attacks_l0", "05_results", "08_released", "07_distal",
         "06_appendix")


README = ROOT / "README.md"


class IncompleteRun(RuntimeError):
    """A kept run lacks a page, or its results are missing, stale or extra."""


def check(profile: str) -> list[str]:
    """The problems of the kept run of `profile` under ABSNB_ARTIFACTS (empty when it is whole)."""
    notebooks = artifacts.profile_dir(profile) / "notebooks"
    problems = [f"no executed notebook {notebooks / page}.ipynb" for page in PAGES
                if not (notebooks / f"{page}.ipynb").exists()]
    status = expected.check(profile)
    if not status.complete:
        problems.append(f"attack results: {status.report()}")
    return problems


def inconsistencies(profile: str) -> list[str]:
    """What a (possibly unfinished) kept run stores that today's code would not reuse: training logs
    of other settings, clean scores and ABS inference records of other weights or settings, stale or
    extra attack results. Empty while every stored result is still valid, however incomplete the run."""
    prof = profiles.load(profile)
    problems = [f"training log {m}: other settings" for m in TRAINED_MODELS
                if artifacts.log_path(profile, m).exists()
                and artifacts.load_json(artifacts.log_path(profile, m))["config"] != train.config_of(prof, m)]
    for m in ALL_MODELS:
        score = artifacts.clean_path(profile, m)
        records = score.with_suffix(".pt") if m in ABS_MODELS else None
        stored = [artifacts.load_json(score)] if score.exists() else []
        stored += [artifacts.load_torch(records)["key"]] if records and records.exists() else []
        if not stored:
            continue
        key = evaluate.score_key(profile, m)
        if not all(evaluate.is_fresh(s, key) for s in stored):
            problems.append(f"clean score or inference records of {m}: other weights or settings")
    status = expected.check(profile)
    problems += [f"attack result {name}: stale" for name in status.stale]
    problems += [f"attack result {name}: extra" for name in status.extra]
    return problems


def summary(profile: str) -> str:
    """The kept run's results so far as Markdown (for the README): clean accuracy of every scored model,
    and per norm and model the attacks whose results are stored and fresh, with the two "All" rows
    over those (n, median distance / accuracy at ε with 95% intervals) beside the paper's "All".
    Generated, never typed: a test compares the README."""
    lines = ["| model | test images | clean accuracy | bank start only |", "|---|---|---|---|"]
    for m in MODELS:
        path = artifacts.clean_path(profile, m)
        if path.exists():
            score = artifacts.load_json(path)
            bank = f"{100 * score['bank_accuracy']:.2f}%" if "bank_accuracy" in score else "–"
            accuracy = f"{100 * score['accuracy']:.2f}%"
            lines.append(f"| {DISPLAY_NAMES[m]} | {score['samples']:,} | {accuracy} | {bank} |")
    status = expected.check(profile)
    unfinished = set(status.missing) | set(status.waiting) | set(status.stale)
    done = [(n, m, a) for n, m, a in status.expected if f"{n}/{m}/{artifacts.slug(a)}" not in unfinished]
    lines += ["", "| norm | model | attacks stored | n | All (paper attacks) | n | All incl. adaptive "
              "| paper's All |", "|---|---|---|---|---|---|---|---|"]
    paper = table1.paper()
    for norm in NORMS:
        for m in MODELS:
            pairs = [p for p in status.expected if p[:2] == (norm, m)]
            stored = [p for p in done if p[:2] == (norm, m)]
            if stored:
                lines.append(_all_cells(profile, stored, len(pairs), paper))
    return "\n".join(lines)


def _all_cells(profile: str, stored: list[expected.Pair], expected_count: int, paper: pd.DataFrame) -> str:
    """One model's row of one norm: its two "All" rows over the stored attacks, each with its sample
    count, "median [95%] / accuracy at ε [95%]", and the paper's "All" (for a released model: the
    paper's row of the model it is)."""
    norm, model = stored[0][:2]
    frame = pd.concat([pd.read_csv(artifacts.attack_path(profile, *p, ".csv")) for p in stored])
    unc = results.uncertainty(results.both_all_rows(frame)).set_index("attack")

    def cells(kind: str) -> str:
        if kind not in unc.index:
            return "– | –"
        median, accuracy = results.interval_texts(unc.loc[kind])
        return f"{unc.loc[kind, 'n']} | {median} / {accuracy}"

    cell = table1.paper_all(paper, Norm(norm), DISPLAY_NAMES[RELEASED.get(model, model)])
    paper_text = (f"{results.distance_text(cell['median_distance'].iloc[0])} / "
                  f"{cell['accuracy_percent'].iloc[0]:.0f}%") if len(cell) else "–"
    return (f"| {norm} | {DISPLAY_NAMES[model]} | {len(stored)} of {expected_count} "
            f"| {cells(results.ALL_PAPER)} | {cells(results.ALL_ADAPTIVE)} | {paper_text} |")


def executed_commit(profile: str) -> str:
    """The commit the kept run's notebooks were executed at, as its appendix (executed last) recorded it."""
    path = artifacts.profile_dir(profile) / "notebooks" / "06_appendix.ipynb"
    found = re.search(r"Code: git commit `([^`]+)`", path.read_text()) if path.exists() else None
    if found is None:
        raise IncompleteRun(f"{path} does not record the commit it was executed at")
    return found.group(1)


def banner(profile: str) -> str:
    """The line every page of the kept run's book shows: which run, and the commits behind it."""
    stages = provenance.stage_times(profile)
    commits = ", ".join(f"<code>{c}</code>" for c in dict.fromkeys(stages["commit"]))
    return (f"The kept run <code>reference/{profile}</code>: results computed in stages from commits "
            f"{commits} (the appendix lists them; the run's README says what each holds), pages executed "
            f"at <code>{executed_commit(profile)[:7]}</code>. Nothing was computed to build this HTML.")


def write_config(profile: str, path: Path) -> None:
    """The book's _config.yml with `banner` as the announcement of every page (for `make book-reference`)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config.setdefault("html", {})["announcement"] = banner(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


README_MARKERS = ("<!-- kept-run -->\n", "<!-- /kept-run -->")


def readme_block(readme: Path = README) -> str:
    """The generated block of the README (between its markers)."""
    text = readme.read_text()
    start, end = (text.index(m) for m in README_MARKERS)
    return text[start + len(README_MARKERS[0]):end].strip()


def write_readme(profile: str, readme: Path = README) -> None:
    """Put the kept run's `summary` between the README's markers."""
    text = readme.read_text()
    start, end = (text.index(m) for m in README_MARKERS)
    readme.write_text(text[:start + len(README_MARKERS[0])] + summary(profile) + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", help="the kept run's folder name under ABSNB_ARTIFACTS, e.g. default")
    parser.add_argument("--summary", action="store_true", help="print the results stored so far")
    parser.add_argument("--readme", action="store_true", help="write them into README.md")
    parser.add_argument("--config", type=Path, help="write the book config for a whole run here")
    args = parser.parse_args()
    if args.summary or args.readme:
        print(summary(args.profile))
        if args.readme:
            write_readme(args.profile)
        return
    problems = check(args.profile)
    if problems:
        raise IncompleteRun("the kept run cannot be shown as it is:\n  " + "\n  ".join(problems))
    if args.config:
        write_config(args.profile, args.config)
    print("kept run complete: building its book from the executed notebooks, nothing recomputed")


if __name__ == "__main__":
    main()
