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
