"""The one writer of output files: whole or not at all, with a plain file's permissions."""

import os
import stat

import pytest

from bioner_mtl.data.atomic import save_figure, write_atomically, write_text
from bioner_mtl.data.errors import InputError


def mode_of(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_the_text_with_a_plain_file_s_permissions(tmp_path):
    target = tmp_path / "deep" / "out.txt"
    write_text(target, "α\nβ\n")
    assert target.read_bytes() == "α\nβ\n".encode()
    umask = os.umask(0)
    os.umask(umask)
    assert mode_of(target) == 0o666 & ~umask  # not the temporary file's private 0o600
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]  # no temporary left


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def half_then_fail(handle):
        handle.write("half of the new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, half_then_fail)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_returns_what_the_writer_returned_and_writes_binary(tmp_path):
    target = tmp_path / "out.bin"
    assert write_atomically(target, lambda handle: handle.write(b"\x00\x01"), binary=True) == 2
    assert target.read_bytes() == b"\x00\x01"


def test_newline_is_passed_to_the_text_handle(tmp_path):
    write_text(tmp_path / "crlf.txt", "a\r\nb\r\n", newline="")
    assert (tmp_path / "crlf.txt").read_bytes() == b"a\r\nb\r\n"


def test_an_unwritable_place_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(InputError, match=r"taken/out.txt: cannot write \(.*\); check the "):
        write_text(tmp_path / "taken" / "out.txt", "x")


def test_a_figure_is_saved_in_the_format_its_name_ends_with(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure()
    figure.add_subplot().plot([0, 1], [1, 0])
    save_figure(tmp_path / "plot.png", figure, dpi=20)
    save_figure(tmp_path / "plot.svg", figure, dpi=20)
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "plot.svg").read_bytes()[:400]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png", "plot.svg"]


# ----- the rule: nothing the user has is replaced without --force; directories swap whole ----
def test_refuse_existing_names_the_path_and_the_flag(tmp_path):
    from bioner_mtl.data.atomic import refuse_existing

    (tmp_path / "report.md").write_text("mine")
    with pytest.raises(InputError, match=r"report.md already exists \(a file\) and would be "
                                         r"replaced; choose another --out, or add --force"):
        refuse_existing(tmp_path / "report.md", force=False)
    refuse_existing(tmp_path / "report.md", force=True)  # asked for
    refuse_existing(tmp_path / "new.md", force=False)  # nothing there
    (tmp_path / "empty").mkdir()
    refuse_existing(tmp_path / "empty", force=False)  # nothing to lose
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "train.tsv").write_text("x")
    with pytest.raises(InputError, match=r"full already exists \(a directory that is not "
                                         r"empty\).*another --save-model"):
        refuse_existing(tmp_path / "full", force=False, flag="--save-model")


def test_force_replaces_only_a_directory_of_the_output_s_kind(tmp_path):
    from bioner_mtl.data.atomic import refuse_existing

    corpus = ("corpus", ("*.tsv", "*.ids"))
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "train.tsv").write_text("x")
    (tmp_path / "old" / "train.ids").write_text("x")
    refuse_existing(tmp_path / "old", force=True, kind=corpus)
    (tmp_path / "old" / "thesis.tex").write_text("years of work")
    with pytest.raises(InputError, match=r"old: holds thesis.tex, not only a corpus's files"):
        refuse_existing(tmp_path / "old", force=True, kind=corpus)


def test_refuse_input_holds_even_with_force(tmp_path):
    from bioner_mtl.data.atomic import refuse_input

    grid = tmp_path / "grid"
    (grid / "sub").mkdir(parents=True)
    results = grid / "sub" / "results.jsonl"
    results.write_text("{}\n")
    for out in (results, grid, grid / "sub", grid / "sub" / ".." / "sub"):
        with pytest.raises(InputError, match="would replace the input"):
            refuse_input(out, [results])
    refuse_input(grid / "report.md", [results])


def test_write_directory_swaps_the_new_directory_in_whole(tmp_path):
    from bioner_mtl.data.atomic import write_directory

    target = tmp_path / "corpus"
    target.mkdir()
    (target / "old.tsv").write_text("old")

    def build(directory):
        assert directory.parent == tmp_path and directory != target  # beside, not inside
        (directory / "train.tsv").write_text("new")
        return 7

    assert write_directory(target, build) == 7
    assert sorted(p.name for p in target.iterdir()) == ["train.tsv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]  # nothing left beside
    umask = os.umask(0)
    os.umask(umask)
    assert mode_of(target) == 0o777 & ~umask  # not mkdtemp's private 0o700


@pytest.mark.parametrize("error", [InputError("x: cannot write (No space left on device)"),
                                   OSError(28, "No space left on device"), KeyboardInterrupt])
def test_a_directory_write_that_fails_half_way_leaves_the_old_one(tmp_path, error):
    from bioner_mtl.data.atomic import write_directory

    target = tmp_path / "corpus"
    target.mkdir()
    for split in ("train", "devel", "test"):
        (target / f"{split}.tsv").write_text(f"old {split}")

    def half(directory):
        (directory / "train.tsv").write_text("new train")
        raise error

    with pytest.raises(InputError if isinstance(error, Exception) else KeyboardInterrupt) as err:
        write_directory(target, half)
    if isinstance(error, OSError):
        assert str(err.value).startswith(f"{target}: cannot write (No space left on device)")
    assert {p.name: p.read_text() for p in target.iterdir()} == {
        f"{s}.tsv": f"old {s}" for s in ("train", "devel", "test")}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]
