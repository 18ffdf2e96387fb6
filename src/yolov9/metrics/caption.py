"""Caption metrics as the COCO caption evaluation computes them: corpus BLEU-1..4 and CIDEr-D.

Both take, per image id, one candidate caption and its reference captions, already tokenised
(:func:`tokenize`: our documented stand-in for the Stanford PTB tokenizer the COCO tool runs,
which needs Java; where the two differ is said there).

**BLEU-n** (the tool's ``bleu_scorer``, option ``closest``): for every candidate, its n-gram
counts clipped by the largest count of that n-gram in any one reference; over the corpus, the
clipped matches and the candidate n-grams are summed per order; BLEU-n is the geometric mean of
the precisions of orders 1..n, times the brevity penalty ``exp(1 - r / c)`` when the candidates'
total length ``c`` is below ``r``, the sum over candidates of the reference length closest to
each candidate's (the shorter one on a tie). The tool's smoothing constants are kept (1e-15
added to matches, 1e-9 to counts), so a BLEU with no match is ~1e-7^(1/n), not 0.

**CIDEr-D** (the tool's ``cider_scorer``; its ``Cider`` class is CIDEr-D): n-grams of orders
1..4 weighted by tf-idf, the document frequency of an n-gram being the number of images whose
references contain it and the idf ``log(images) - log(max(1, df))``; for each reference, per
order, the candidate's clipped weights (``min(candidate, reference)``) dotted with the
reference's, divided by both norms, times ``exp(-d^2 / (2 sigma^2))`` with sigma 6 and ``d``
the difference of the two lengths (the tool counts the bigrams there, and so do we); averaged
over the orders and the references, times 10. The corpus score is the mean over images.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_ORDER = 4
SIGMA = 6.0
_TINY, _SMALL = 1e-15, 1e-9  # the COCO tool's smoothing of BLEU's ratios
# characters that separate words (apostrophes, hyphens and dots may be inside one)
_SEPARATORS = re.compile(r"[^\w\s'.\-]|_")


def tokenize(caption: str) -> list[str]:
    """Lower-case words, punctuation dropped: characters other than letters, digits,
    apostrophes, hyphens and dots separate words; apostrophes, hyphens and dots are kept
    inside a word ("t-shirt", "3.5", "man's") and stripped from its ends ("street." ->
    "street"); what is left empty ("--", "...") is dropped.

    A stand-in for the COCO tool's Stanford PTB tokenizer (Java), which then removes its
    punctuation tokens. They differ on contractions and possessives (PTB: "man 's", here
    "man's") and on abbreviations ending in a dot (PTB: "u.s.", here "u.s")."""
    words = (w.strip(".-'") for w in _SEPARATORS.sub(" ", caption.lower()).split())
    return [w for w in words if w]


def _ngrams(words: Sequence[str], max_order: int = MAX_ORDER) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for n in range(1, max_order + 1):
        for i in range(len(words) - n + 1):
            counts[tuple(words[i : i + n])] += 1
    return counts


@dataclass(frozen=True)
class CaptionScores:
    """Corpus scores (BLEU as fractions, CIDEr-D x 10) and CIDEr-D per image."""

    bleu: tuple[float, float, float, float]
    cider: float
    cider_per_image: dict[Any, float]

    def as_dict(self) -> dict[str, float]:
        out = {f"BLEU-{n}": self.bleu[n - 1] for n in range(1, 5)}
        out["CIDEr-D"] = self.cider
        return out


def bleu(
    candidates: Mapping[Any, Sequence[str]], references: Mapping[Any, Sequence[Sequence[str]]]
) -> tuple[float, float, float, float]:
    """Corpus BLEU-1..4 of tokenised candidates against their tokenised references."""
    matches = np.zeros(MAX_ORDER)
    totals = np.zeros(MAX_ORDER)
    cand_len = ref_len = 0
    for key, cand in candidates.items():
        refs = references[key]
        best: Counter[tuple[str, ...]] = Counter()
        for ref in refs:
            for gram, count in _ngrams(ref).items():
                best[gram] = max(best[gram], count)
        counts = _ngrams(cand)
        for gram, count in counts.items():
            matches[len(gram) - 1] += min(count, best[gram])
        for n in range(MAX_ORDER):
            totals[n] += max(len(cand) - n, 0)
        cand_len += len(cand)
        ref_len += min((abs(len(r) - len(cand)), len(r)) for r in refs)[1]
    scores = []
    product = 1.0
    for n in range(MAX_ORDER):
        product *= (matches[n] + _TINY) / (totals[n] + _SMALL)
        score = product ** (1.0 / (n + 1))
        ratio = (cand_len + _TINY) / (ref_len + _SMALL)
        if ratio < 1:
            score *= math.exp(1 - 1 / ratio)
        scores.append(float(score))
    return scores[0], scores[1], scores[2], scores[3]


def _tfidf(
    counts: Counter[tuple[str, ...]], doc_freq: Counter[tuple[str, ...]], log_images: float
) -> tuple[list[dict[tuple[str, ...], float]], np.ndarray, int]:
    """Per order: n-gram -> tf-idf weight, the norms, and the length the tool uses (the
    number of bigrams)."""
    vectors: list[dict[tuple[str, ...], float]] = [{} for _ in range(MAX_ORDER)]
    norms = np.zeros(MAX_ORDER)
    length = 0
    for gram, tf in counts.items():
        n = len(gram) - 1
        weight = float(tf) * (log_images - math.log(max(1.0, float(doc_freq[gram]))))
        vectors[n][gram] = weight
        norms[n] += weight**2
        if n == 1:
            length += tf
    return vectors, np.sqrt(norms), length


def cider_d(
    candidates: Mapping[Any, Sequence[str]],
    references: Mapping[Any, Sequence[Sequence[str]]],
    sigma: float = SIGMA,
) -> tuple[float, dict[Any, float]]:
    """Corpus CIDEr-D (x 10) and each image's, document frequencies from ``references``."""
    ref_counts = {key: [_ngrams(r) for r in references[key]] for key in candidates}
    doc_freq: Counter[tuple[str, ...]] = Counter()
    for counts in ref_counts.values():
        for gram in set().union(*counts) if counts else ():
            doc_freq[gram] += 1
    log_images = math.log(float(len(ref_counts))) if ref_counts else 0.0
    per_image = {}
    for key, cand in candidates.items():
        vec, norm, length = _tfidf(_ngrams(cand), doc_freq, log_images)
        total = np.zeros(MAX_ORDER)
        for counts in ref_counts[key]:
            ref_vec, ref_norm, ref_length = _tfidf(counts, doc_freq, log_images)
            delta = float(length - ref_length)
            for n in range(MAX_ORDER):
                value = sum(
                    min(weight, ref_vec[n].get(gram, 0.0)) * ref_vec[n].get(gram, 0.0)
                    for gram, weight in vec[n].items()
                )
                if norm[n] != 0 and ref_norm[n] != 0:
                    value /= norm[n] * ref_norm[n]
                total[n] += value * math.exp(-(delta**2) / (2 * sigma**2))
        refs = max(len(ref_counts[key]), 1)
        per_image[key] = float(total.mean() / refs * 10.0)
    corpus = float(np.mean(list(per_image.values()))) if per_image else 0.0
    return corpus, per_image


def score_captions(
    candidates: Mapping[Any, str], references: Mapping[Any, Sequence[str]]
) -> CaptionScores:
    """BLEU-1..4 and CIDEr-D of raw captions (tokenised by :func:`tokenize`); every candidate
    needs references.

    Raises:
        KeyError: a candidate's image has no reference captions.
    """
    missing = [k for k in candidates if not references.get(k)]
    if missing:
        raise KeyError(f"image {missing[0]!r} has a candidate caption but no reference")
    cands = {k: tokenize(c) for k, c in candidates.items()}
    refs = {k: [tokenize(r) for r in references[k]] for k in candidates}
    corpus, per_image = cider_d(cands, refs)
    return CaptionScores(bleu(cands, refs), corpus, per_image)
