"""Which languages an embedding model reads, and how much of a corpus it cannot.

An English model reads Chinese as word pieces it does not know (all-MiniLM-L6-v2 turns 64% of the
word pieces of real Chinese reviews into ``[UNK]``), and clusters such texts into noise without a
word of warning. The languages are the script classes of ``common.tokenize.detect_language``
(``en`` covers Latin-script text, ``zh`` Chinese, ``other`` the rest).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from interest_pipeline.core.text.models import PACKAGED_MODEL

ALL_LANGUAGES = frozenset({"en", "zh", "other"})
# Model names (or folder names) that say the model reads many languages.
MULTILINGUAL_MARKERS = ("multilingual", "labse", "-zh", "chinese", "m3e", "bge-m3", "xlm", "text2vec")
# Above this share of texts in languages the model does not read, the check warns.
MAX_UNREAD_SHARE = 0.05


def model_languages(model: str) -> frozenset[str]:
    """The languages a model reads: the packaged model and other English sentence-transformers
    models read ``en``; a name that says multilingual or Chinese reads every class."""
    name = model.lower()
    if model in ("", PACKAGED_MODEL):
        return frozenset({"en"})
    if any(marker in name for marker in MULTILINGUAL_MARKERS):
        return ALL_LANGUAGES
    return frozenset({"en"})


@dataclass(frozen=True)
class LanguageCoverage:
    texts: int
    unread: dict[str, int]  # language -> texts the model does not read

    @property
    def unread_share(self) -> float:
        return sum(self.unread.values()) / self.texts if self.texts else 0.0

    def too_much_unread(self, max_share: float = MAX_UNREAD_SHARE) -> bool:
        return self.unread_share > max_share


def language_coverage(texts_per_language: Mapping[str, int], read: frozenset[str]) -> LanguageCoverage:
    """How many texts (by detected language; ``""`` for text without letters, never counted
    against the model) fall outside the languages a model reads."""
    counted = {lang: n for lang, n in texts_per_language.items() if lang}
    unread = {lang: n for lang, n in sorted(counted.items()) if lang not in read and n}
    return LanguageCoverage(sum(counted.values()), unread)
