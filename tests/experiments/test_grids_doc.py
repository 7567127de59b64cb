"""docs/grids.md says what the code does: the --max-seeds default, and which settings are left
out of a cell's identity."""

import re
from pathlib import Path

from bioner_mtl.training.cli import MAX_SEEDS
from bioner_mtl.training.fit.results import LATER_DEFAULTS, NOT_IDENTITY

DOC = (Path(__file__).resolve().parents[2] / "docs" / "grids.md").read_text(encoding="utf-8")


def test_the_max_seeds_default_is_the_code_s_wherever_the_page_gives_it():
    said = re.findall(r"`--max-seeds`? ?N?`? \([^)]*?default (\d+)", DOC)
    said += re.findall(r"up to `--max-seeds` \(default (\d+)", DOC)
    assert len(said) >= 2 and set(said) == {str(MAX_SEEDS)}, said


def test_the_page_names_every_setting_left_out_of_a_cell_s_identity():
    start = DOC.index("(`bioner_mtl.training.fit.results.identity`:")
    paragraph = " ".join(DOC[start:DOC.index("all use it", start)].split())
    for name in NOT_IDENTITY:
        assert f"`{name}`" in paragraph, name
    for name, value in LATER_DEFAULTS.items():
        assert f"`{name}` = `{value}`" in paragraph, name
