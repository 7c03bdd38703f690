"""Word-level tokenizer built with `tokenizers`: lower-cased words and punctuation marks.

Special tokens have fixed ids so configs can name them: <pad> 0, <image> 1 (the placeholder
spliced with image features), <bos> 2, <eos> 3, <unk> 4.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer

SPECIALS = ("<pad>", "<image>", "<bos>", "<eos>", "<unk>")
PAD, IMAGE, BOS, EOS, UNK = range(len(SPECIALS))


def build_tokenizer(corpus: Iterable[str]) -> Tokenizer:
    """Every word and punctuation mark seen in the corpus gets an id after the specials."""
    tok = Tokenizer(WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # joins words, tidies " ." -> "."
    tok.train_from_iterator(corpus, WordLevelTrainer(special_tokens=list(SPECIALS), min_frequency=1))
    for i, name in enumerate(SPECIALS):
        assert tok.token_to_id(name) == i
    return tok


def load_tokenizer(path: Path) -> Tokenizer:
    return Tokenizer.from_file(str(path))
