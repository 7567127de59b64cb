"""How bulk tagging cuts text into chunks for its workers (training/product/bulk.py): each
chunk splits into the sentences the whole text has, however small the chunks and however the
text arrives; text with no sentence end is cut between words."""

import pytest

from bioner_mtl.data.text import split_sentences
from bioner_mtl.training.product.bulk import MAX_PIECE, text_pieces

# sentence ends the splitter decides from the words around them: abbreviations, initials,
# labels, closing quotes and brackets, blank lines of several kinds, no space after a period
TEXT = ("Mutations in BRCA1 (e.g. 185delAG) cause breast cancer. As shown by J. Smith et al. "
        "The gene was cloned in E. coli in the U.S. in 1994. Treated with amphotericin B. "
        "Patterns of vitamin C. deficiency differ.\nIs it inherited?! \"Yes.\" (See Fig. 2.) "
        "p53 was mutated in 3.5% of cases vs. controls. c-Myc binds.mRNA levels rose\n \n"
        "under stress\u2029The end.\r\n\r\nWe found type I. The next one ... Dr. No. "
        "Aspirin\u200b. Then\t\tmore text.")


def sentences_of_pieces(pieces) -> list[tuple[int, int]]:
    spans, position = [], 0
    for offset, piece in pieces:
        assert offset == position and piece
        position += len(piece)
        spans += [(s[0].start + offset, s[-1].end + offset) for s in split_sentences(piece)]
    return spans


@pytest.mark.parametrize("size", [1, 2, 5, 13, 40, 120, 10_000])
@pytest.mark.parametrize("step", [1, 7, 64, None])  # how the text arrives: pieces of `step`
def test_chunks_split_into_the_sentences_of_the_whole_text(size, step):
    lines = [TEXT] if step is None else [TEXT[i:i + step] for i in range(0, len(TEXT), step)]
    whole = [(s[0].start, s[-1].end) for s in split_sentences(TEXT)]
    pieces = list(text_pieces(lines, size))
    assert sentences_of_pieces(pieces) == whole
    assert "".join(p for _, p in pieces) == TEXT
    if size <= 13:  # one sentence (or paragraph) a chunk: each ends where one does
        assert len(pieces) >= len(whole) - 2


def test_text_with_no_sentence_end_is_cut_between_words():
    text = " ".join(f"word{i}" for i in range(3 * MAX_PIECE // 8))
    for size in (100, 2 * MAX_PIECE):
        pieces = list(text_pieces([text[i:i + 1000] for i in range(0, len(text), 1000)], size))
        assert "".join(p for _, p in pieces) == text
        assert len(pieces) >= 2 and max(len(p) for _, p in pieces) <= max(size, MAX_PIECE)
        for (_, piece), (_, after) in zip(pieces, pieces[1:]):
            assert piece.endswith(" ") and not after[0].isspace()  # no word cut in two
