"""The caption vocabulary: a sentencepiece BPE model trained on a dataset's training captions,
kept inside the checkpoint as bytes (a serialized protocol buffer: data, never code), so that a
checkpoint alone captions. No download, ever.

Text is normalised before training and encoding as the caption metrics tokenise it
(:func:`yolov9.metrics.caption.tokenize`): lower-case, punctuation dropped (apostrophes kept
inside words), single spaces; decoding gives that form back. Ids: 0 padding, 1 unknown, 2
begin, 3 end (the reference's PAD 0, BOS 2, EOS 3), then the learnt pieces.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from yolov9.errors import DataError
from yolov9.metrics.caption import tokenize

PAD, UNK, BOS, EOS = 0, 1, 2, 3


def normalize(caption: str) -> str:
    """The text the vocabulary sees: the caption metrics' words joined by single spaces."""
    return " ".join(tokenize(caption))


class CaptionTokenizer:
    """Captions <-> token ids (see the module docstring)."""

    def __init__(self, model: bytes) -> None:
        import sentencepiece as spm

        self.model_bytes = bytes(model)
        self._sp = spm.SentencePieceProcessor(model_proto=self.model_bytes)

    @classmethod
    def train(cls, captions: Iterable[str], vocab_size: int = 1000) -> CaptionTokenizer:
        """Learn a BPE vocabulary of at most ``vocab_size`` ids from ``captions``.

        Raises:
            DataError: no caption with a word, or too few words for even a small vocabulary.
        """
        import sentencepiece as spm

        lines = [text for text in (normalize(c) for c in captions) if text]
        if not lines:
            raise DataError("no caption with a word to learn a vocabulary from")
        out = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(lines),
                model_writer=out,
                model_type="bpe",
                vocab_size=vocab_size,
                hard_vocab_limit=False,  # fewer ids when the captions hold fewer pieces
                character_coverage=1.0,
                # the text is normalised already (normalize): no NFKC table in the model,
                # which keeps the vocabulary kept in a checkpoint a few kB, not 240 kB
                normalization_rule_name="identity",
                pad_id=PAD,
                unk_id=UNK,
                bos_id=BOS,
                eos_id=EOS,
                minloglevel=2,
                num_threads=1,
            )
        except RuntimeError as e:
            raise DataError(f"cannot learn a caption vocabulary: {e}") from None
        return cls(out.getvalue())

    def __len__(self) -> int:
        return int(self._sp.get_piece_size())

    def encode(self, caption: str, *, bos: bool = True, eos: bool = True) -> list[int]:
        """Token ids of ``caption`` (normalised), framed by BOS and EOS."""
        ids = list(self._sp.encode(normalize(caption)))
        return ([BOS] if bos else []) + ids + ([EOS] if eos else [])

    def decode(self, ids: Sequence[int]) -> str:
        """The caption of ``ids``: stops at the first EOS; padding and BOS are skipped."""
        kept = []
        for i in ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                kept.append(int(i))
        return str(self._sp.decode(kept))
