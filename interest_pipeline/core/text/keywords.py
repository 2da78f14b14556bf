"""Class-based TF-IDF (c-TF-IDF) keywords for labelling clusters of documents.

Implements the weighting used by BERTopic (Grootendorst 2022, "BERTopic:
Neural topic modeling with a class-based TF-IDF procedure"): all documents of
a class are treated as one document, and a term scores high when it is
frequent in that class but rare across all classes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Hashable, Sequence
from typing import TypeVar

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

__all__ = ["FILLER_WORDS", "class_tfidf_keywords", "format_label", "is_filler"]

# Words that carry no interest in any domain but survive stop-word lists: reporting verbs and
# time words of news, praise and complaint of reviews, the generic nouns of shops (also the
# aspects every kind of product is reviewed on: size, colour), and the
# field names importers write into every text ("Genres: ..."). Words common to most
# clusters are removed by ``max_class_share`` as well; this list catches them in small runs.
FILLER_WORDS = frozenset(
    """said says say told new here's there's just like really also get got make made one two
    year years time day days week weeks people way thing things lot bit
    good great nice best better bad poor awesome excellent perfect amazing love loved
    product products item items quality price value buy bought purchase order ordered delivery shipping
    size sizes colour colours color colors everyday
    recommend recommended star stars genres genre category categories description title""".split()
    # The same filler as Chinese reviews and news write it (as jieba segments it): praise and
    # complaint, buying and delivery, the shop's generic nouns, time and reporting words.
    + """好 很好 不错 还好 还行 一般 好评 差评 满意 喜欢 推荐 值得 失望 差 棒 赞 好用 划算 实惠 便宜 贵
    买 购买 刚买 下单 降价 价格 价钱 质量 东西 商品 产品 宝贝 卖家 商家 客服 物流 快递 发货 收到 包装 速度 评价
    感觉 觉得 今天 昨天 时候 一次 一直 一点 已经 现在 以后 下次 第一次 记者 表示 认为 据悉 目前 近日""".split()
)
_NUMBER = re.compile(r"[\d.,:/%-]+")

Label = TypeVar("Label", bound=Hashable)

# Scores that are mathematically equal can differ in the last bits depending
# on how they were computed; rounding the sort key makes such ties fall back
# to alphabetical order instead of floating-point noise.
_TIE_DECIMALS = 12


def _pass_through(doc: Sequence[str] | None) -> Sequence[str]:
    # Module-level (not a lambda) so a fitted vectorizer stays picklable.
    if doc is None:
        return ()
    if isinstance(doc, str):
        raise TypeError("class_tfidf_keywords expects token lists, got a plain string")
    return doc


def is_filler(term: str) -> bool:
    """A number, a date or a filler word: never a useful keyword."""
    return term.casefold() in FILLER_WORDS or bool(_NUMBER.fullmatch(term))


def _python_scalar(label: Label) -> Label:
    return label.item() if isinstance(label, np.generic) else label


def _ordered_classes(labels: list[Label]) -> list[Label]:
    unique = list(dict.fromkeys(labels))
    try:
        return sorted(unique)
    except TypeError:  # mixed, non-comparable label types: keep first appearance
        return unique


def class_tfidf_keywords(
    tokens: Sequence[Sequence[str]],
    labels: Sequence[Label],
    top_n: int = 5,
    exclude_labels: Collection[Label] = (-1,),
    max_class_share: float | None = None,
    drop_filler: bool = False,
) -> dict[Label, list[tuple[str, float]]]:
    """Top ``top_n`` c-TF-IDF keywords for every class in ``labels``.

    ``tokens[i]`` is the token list of document ``i`` and ``labels[i]`` its
    class. For each class ``c`` and term ``t``::

        tf(t, c) = count of t in c / number of terms in c
        idf(t)   = log(1 + A / f_t)
        score    = tf(t, c) * idf(t)

    where ``A`` is the average number of terms per class and ``f_t`` the
    frequency of ``t`` summed over all classes.

    With ``max_class_share``, a term found in more than that share of the classes is never a
    keyword (with at least 4 classes): words common to most clusters say nothing about any of
    them. With ``drop_filler``, numbers and ``FILLER_WORDS`` are never keywords either. Both
    only choose among terms; the statistics still count every term.

    Documents whose label is in ``exclude_labels`` (HDBSCAN's noise label -1
    by default) are removed *before* any statistic is computed: they get no
    entry and do not contribute to ``f_t`` or ``A``. The noise bucket is a
    large, heterogeneous catch-all, so counting it would mostly inflate
    ``f_t`` for common words and shift ``A`` by its size rather than carry
    information about the real classes.

    Returns a dict keyed by class (sorted when the labels are comparable) whose
    values are ``(term, score)`` pairs sorted by score descending, then term
    ascending, so ties are deterministic. A class whose documents contain no
    tokens maps to ``[]``.
    """
    if len(tokens) != len(labels):
        raise ValueError(f"tokens and labels differ in length: {len(tokens)} != {len(labels)}")
    if top_n < 0:
        raise ValueError(f"top_n must be >= 0, got {top_n}")

    excluded = set(exclude_labels)
    keep = [i for i, label in enumerate(labels) if label not in excluded]
    # numpy scalars become Python scalars so the result keys serialise cleanly.
    kept_labels = [_python_scalar(labels[i]) for i in keep]
    classes = _ordered_classes(kept_labels)
    result: dict[Label, list[tuple[str, float]]] = {label: [] for label in classes}
    if not classes or top_n == 0:
        return result

    docs = [_pass_through(tokens[i]) for i in keep]
    if not any(len(doc) for doc in docs):
        return result  # CountVectorizer refuses an empty vocabulary

    vectorizer = CountVectorizer(analyzer=_pass_through)
    doc_term = vectorizer.fit_transform(docs)  # (n_docs, n_terms), CSR
    terms = vectorizer.get_feature_names_out()

    # Sum the rows of each class with one sparse product: (n_classes, n_docs)
    # indicator matrix times the document-term matrix.
    class_index = {label: k for k, label in enumerate(classes)}
    rows = np.fromiter((class_index[label] for label in kept_labels), dtype=np.int64, count=len(kept_labels))
    indicator = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.int64), (rows, np.arange(len(rows)))),
        shape=(len(classes), len(rows)),
    )
    class_term = (indicator @ doc_term).tocsr().astype(np.float64)
    class_term.sum_duplicates()
    class_term.eliminate_zeros()

    terms_per_class = np.asarray(class_term.sum(axis=1)).ravel()
    term_frequency = np.asarray(class_term.sum(axis=0)).ravel()
    average_terms = terms_per_class.mean()
    idf = np.log1p(average_terms / term_frequency)

    # Alphabetical rank of each term, used as the tie-breaker.
    term_rank = np.empty(len(terms), dtype=np.int64)
    term_rank[np.argsort(terms, kind="stable")] = np.arange(len(terms))

    allowed = np.ones(len(terms), dtype=bool)
    if max_class_share is not None and len(classes) >= 4:
        classes_with_term = np.bincount(class_term.indices, minlength=len(terms))
        allowed &= classes_with_term <= max_class_share * len(classes)
    if drop_filler:
        allowed &= np.array([not is_filler(str(t)) for t in terms], dtype=bool)

    for k, label in enumerate(classes):
        start, end = class_term.indptr[k], class_term.indptr[k + 1]
        if start == end:
            continue
        columns, counts = class_term.indices[start:end], class_term.data[start:end]
        keep = allowed[columns]
        columns, counts = columns[keep], counts[keep]
        if len(columns) == 0:
            continue
        scores = counts / terms_per_class[k] * idf[columns]
        order = np.lexsort((term_rank[columns], -np.round(scores, _TIE_DECIMALS)))[:top_n]
        result[label] = [(str(terms[columns[j]]), float(scores[j])) for j in order]
    return result


def format_label(keywords: Sequence[tuple[str, float]], n: int = 3) -> str:
    """Join the first ``n`` keyword terms into a label such as ``"running / trail / shoes"``.

    Returns ``""`` when there are no keywords (or ``n <= 0``).
    """
    if n <= 0:
        return ""
    return " / ".join(term for term, _ in list(keywords)[:n] if term)
