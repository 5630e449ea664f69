"""Small steps of the book build that papermill cannot do: naming each executed training page.

Every model's training page comes from the same notebook, so after papermill runs it, the page's
first heading is made specific ("Training: CNN"), which is what the book's navigation shows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat

from absnb.models import DISPLAY_NAMES, check_name


def retitle(path: Path, model: str) -> None:
    """Replace the notebook's first top-level heading by "Training: <model's display name>"."""
    check_name(model)
    nb = nbformat.read(path, as_version=4)
    name = DISPLAY_NAMES.get(model, "Substitute CNN")
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            first, _, rest = cell.source.partition("\n")
            cell.source = f"# Training: {name}\n{rest}"
            break
    else:
        raise ValueError(f"{path} has no top-level heading to rename")
    nbformat.write(nb, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("model")
    args = parser.parse_args()
    retitle(args.notebook, args.model)


if __name__ == "__main__":
    main()
