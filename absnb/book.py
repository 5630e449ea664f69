"""Small steps of the book build that papermill cannot do: naming each executed page.

Every model's training page comes from the same notebook, and so does every norm's attack page, so
after papermill runs one, the page's first heading is made specific ("Training: CNN", "Attacks: L2"),
which is what the book's navigation shows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat

from absnb.models import check_name
from absnb.vocabulary import DISPLAY_NAMES, Norm


def title(kind: str, name: str) -> str:
    """The page title of a training run ("train", model) or an attack run ("attacks", norm)."""
    if kind == "train":
        return f"Training: {DISPLAY_NAMES.get(check_name(name), 'Substitute CNN')}"
    if kind == "attacks":
        return f"Attacks: {Norm(name).label}"
    raise ValueError(f"unknown page kind {kind!r}; valid: train, attacks")


def retitle(path: Path, heading: str) -> None:
    """Replace the notebook's first top-level heading by `heading`."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            first, _, rest = cell.source.partition("\n")
            cell.source = f"# {heading}\n{rest}"
            break
    else:
        raise ValueError(f"{path} has no top-level heading to rename")
    nbformat.write(nb, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("kind", choices=["train", "attacks"])
    parser.add_argument("name", help="the model (train) or the norm (attacks)")
    args = parser.parse_args()
    retitle(args.notebook, title(args.kind, args.name))


if __name__ == "__main__":
    main()
