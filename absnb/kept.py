"""A kept run (e.g. reference/default/): check that it can be shown as a book without computing.

`make book-reference` builds the HTML from a kept run's executed notebooks as they are: no notebook is
executed again, so every page shows the run, commit and machine it was computed on. Before that, this
module checks the run is whole: every page's executed notebook is there, and the stored attack
results are exactly those a full run of the profile stores with today's code and settings
(`absnb.attacks.expected`), so a kept run that no longer matches the code is refused, never shown.
"""

from __future__ import annotations

import argparse

from absnb import artifacts
from absnb.attacks import expected

# The executed notebooks of the book (see _toc.yml and the Makefile's BOOK_NBS).
PAGES = ("01_train_cnn", "01_train_binary_cnn", "01_train_substitute", "01_train_nearest",
         "01_train_madry", "01_train_abs", "01_train_binary_abs", "02_clean", "04_primer",
         "03_attacks_l2", "03_attacks_linf", "03_attacks_l0", "05_results", "08_released", "07_distal",
         "06_appendix")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", help="the kept run's folder name under ABSNB_ARTIFACTS, e.g. default")
    problems = check(parser.parse_args().profile)
    if problems:
        raise IncompleteRun("the kept run cannot be shown as it is:\n  " + "\n  ".join(problems))
    print("kept run complete: building its book from the executed notebooks, nothing recomputed")


if __name__ == "__main__":
    main()
