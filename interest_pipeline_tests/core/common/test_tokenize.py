import random
import time

import polars as pl
import pytest

from interest_pipeline.core.common.tokenize import (
    CHINESE_STOP_WORDS,
    ENGLISH_STOP_WORDS_EXTENDED,
    clean_text,
    detect_language,
    tokenize,
    tokenize_frame,
)

# ---------------------------------------------------------------------------
# clean_text
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("<p>Hello <b>world</b></p>", "Hello world", id="html-tags"),
        pytest.param("line<br/>break", "line break", id="tag-becomes-space"),
        pytest.param(
            "Fish &amp; chips &lt;3 &quot;yum&quot; &#39;ok&#39;", "Fish & chips <3 \"yum\" 'ok'", id="entities"
        ),
        pytest.param("&amp;lt;b&amp;gt;bold&amp;lt;/b&amp;gt;", "bold", id="double-escaped-tags"),
        pytest.param("Hi<script>alert('x')</script> there", "Hi there", id="script"),
        pytest.param("<STYLE type='text/css'>p {color: red}</STYLE>styled", "styled", id="style-uppercase"),
        pytest.param("&lt;script&gt;evil()&lt;/script&gt;safe", "safe", id="escaped-script"),
        pytest.param("a < b and c > d", "a < b and c > d", id="comparison-not-a-tag"),
        pytest.param("<!-- hidden -->visible", "visible", id="html-comment"),
        pytest.param("see https://example.com/a?b=1&c=2 now", "see now", id="https-url"),
        pytest.param("go to HTTP://EXAMPLE.COM/X", "go to", id="url-uppercase"),
        pytest.param("visit www.example.org today", "visit today", id="www-url"),
        pytest.param("链接https://x.cn/p很好", "链接 很好", id="url-glued-to-chinese"),
        pytest.param("mail me at john.doe+tag@mail.example.co.uk please", "mail me at please", id="email"),
        pytest.param("邮箱abc@qq.com谢谢", "邮箱 谢谢", id="email-glued-to-chinese"),
        pytest.param("a\tb\nc\r\nd\x0be\x1bf", "a b c d e f", id="control-chars"),
        pytest.param("nul\x00byte", "nul byte", id="nul-byte"),
        pytest.param("zero\u200bwidth\u200c\u200djoin\ufeff", "zerowidthjoin", id="zero-width"),
        pytest.param("\u202eevil\u202c \u200fmark\u200e", "evil mark", id="bidi-marks"),
        pytest.param("great 😀👍🏽 shoes", "great 😀👍🏽 shoes", id="emoji-kept"),
        pytest.param("ＡＢＣ１２３！", "ABC123!", id="fullwidth-nfkc"),
        pytest.param("ﬁne ①", "fine 1", id="compatibility-nfkc"),
        pytest.param("e\u0301te\u0301", "été", id="combining-composed"),
        pytest.param("  lots \u3000 of\u00a0\u00a0 space  \n\n ", "lots of space", id="white-space"),
        pytest.param("", "", id="empty"),
        pytest.param(None, "", id="none"),
    ],
)
def test_clean_text_cases(raw, expected):
    assert clean_text(raw) == expected


def test_clean_text_removes_lone_surrogates():
    # Lone surrogates cannot be encoded as UTF-8 and would break polars/parquet.
    cleaned = clean_text("ok\ud800 fine")
    assert cleaned == "ok fine"
    cleaned.encode("utf-8")


def test_clean_text_huge_numeric_entity_does_not_raise():
    # html.unescape alone raises ValueError on decimal references > 4300 digits.
    assert clean_text("&#" + "9" * 5000 + ";x") == "\ufffdx"
    assert clean_text("&#" + "0" * 5000 + "65;") == "A"


HOSTILE = [
    "",
    " ",
    "'",
    '"',
    "\"'`",
    "'; DROP TABLE x; --",
    "Robert'); DROP TABLE students;--",
    "<script>alert(1)</script>",
    "<scr<script>ipt>alert(1)</script>",
    "<<b>>",
    "<b<i>>x</i>",
    "&",
    "&amp;",
    "&amp;amp;amp;amp;amp;amp;amp;lt;",
    "&&lt;lt;",
    "&#x3c;b&#x3e;",
    "&#xff1c;b&#xff1e;x",
    "＜b＞fullwidth tag＜/b＞",
    "&l\u200bt;b&g\u200bt;",
    "<\u200bb>",
    "http\u200b://example.com",
    "h<b>ttp://example.com",
    "a@<b>b.com",
    "\x00\x01\x02\x7f\x9f",
    "\u202e\u202d\u2066\u2069\u200e\u200f",
    "e\u200b\u0301",
    "\u0301 leading combining",
    "\ud800\udfff",
    "%s%s%n{0}{{}}${x}",
    "../../etc/passwd",
    "\\x00\\n",
    "😀" * 50,
    "ﷺ ㍻ ℡ ㈱",
    "\u2028line\u2029para\x85next",
    "<" * 100 + ">" * 100,
    "&#" * 100,
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_clean_text_idempotent_on_hostile_strings(raw):
    once = clean_text(raw)
    assert isinstance(once, str)
    assert clean_text(once) == once


def test_clean_text_idempotent_on_random_strings():
    # Seeded so a failure reproduces; the alphabet mixes the pieces that
    # interact (entities, tags, URLs, invisible and fullwidth characters).
    pieces = [
        "&",
        "amp;",
        "lt;",
        "gt;",
        "#",
        "x3c;",
        "60;",
        "<",
        ">",
        "/",
        "b",
        "script",
        "style",
        "http",
        "://",
        "www.",
        "@",
        ".",
        "com",
        " ",
        "\n",
        "\x00",
        "\u200b",
        "\u202e",
        "\u0301",
        "e",
        "＜",
        "＞",
        "＆",
        "；",
        "Ａ",
        "ﬁ",
        "😀",
        "好",
        "\ud800",
    ]
    rng = random.Random(1234)
    for _ in range(3000):
        raw = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
        once = clean_text(raw)
        assert clean_text(once) == once, ascii(raw)


@pytest.mark.parametrize(
    "big",
    [
        pytest.param(("<p>Great shoes &amp; socks!</p> https://x.io a@b.io \u200b\n" * 20000)[:1_000_000], id="mixed"),
        pytest.param("a" * 1_000_000 + "@", id="no-email-long-run"),
        pytest.param("<script>" * 125_000, id="unclosed-scripts"),
        pytest.param("<script " * 125_000, id="unterminated-tags"),
        pytest.param("&" + "amp;" * 250_000, id="deep-escaping"),
        pytest.param("我很喜欢这款跑步鞋，非常舒服" * 70_000, id="chinese"),
    ],
)
def test_clean_text_one_megabyte_is_fast(big):
    start = time.perf_counter()
    once = clean_text(big)
    twice = clean_text(once)
    elapsed = time.perf_counter() - start
    assert twice == once
    # Linear work is well under 0.5 s; quadratic behaviour would take minutes.
    assert elapsed < 3.0


# ---------------------------------------------------------------------------
# detect_language
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我很喜欢这款跑步鞋", "zh"),
        ("这个iPhone很好用", "zh"),  # 5 Han of 11 letters
        ("The running shoes are great", "en"),
        ("Très bien, merci", "en"),
        ("Привет, как дела", "other"),
        ("こんにちは", "other"),
        ("", ""),
        ("12345 !!!", ""),
    ],
)
def test_detect_language(text, expected):
    assert detect_language(text) == expected


def test_detect_language_threshold_is_thirty_percent():
    # 3 Han among 10 letters is exactly 30% -> zh; 2 among 9 is below.
    assert detect_language("好好好abcdefg") == "zh"
    assert detect_language("好好abcdefg") == "en"


# ---------------------------------------------------------------------------
# tokenize
# ---------------------------------------------------------------------------


def test_tokenize_chinese_is_segmented_into_words():
    tokens = tokenize("我很喜欢这款跑步鞋，非常舒服")
    assert "跑步鞋" in tokens or "跑步" in tokens
    assert "喜欢" in tokens
    assert "舒服" in tokens
    assert any(len(t) >= 2 for t in tokens)
    # Segmentation, not one token per character.
    assert len(tokens) < len("我很喜欢这款跑步鞋非常舒服")
    for stop in ("我", "很", "非常", "，", ","):
        assert stop not in tokens


def test_tokenize_chinese_stop_words_removed():
    tokens = tokenize("我的手机和你的手机都是在这里买的", language="zh")
    assert tokens.count("手机") == 2
    assert not set(tokens) & CHINESE_STOP_WORDS


def test_tokenize_mixed_chinese_english():
    tokens = tokenize("这个iPhone的Wi-Fi信号很好，电池续航也不错")
    assert "iphone" in tokens
    assert "wi-fi" in tokens
    assert "信号" in tokens
    assert "电池" in tokens
    # No Han characters glued onto Latin words.
    assert not any(any("a" <= c <= "z" for c in t) and any("\u4e00" <= c <= "\u9fff" for c in t) for t in tokens)


def test_tokenize_english_lowercase_and_stop_words():
    tokens = tokenize("The Running Shoes are REALLY comfortable and I love them")
    assert tokens == ["running", "shoes", "comfortable", "love"]


def test_tokenize_english_contractions_and_hyphens():
    tokens = tokenize("I don’t think the wi-fi isn't rock'n'roll, O'Reilly said")
    assert "wi-fi" in tokens
    assert "rock'n'roll" in tokens
    assert "o'reilly" in tokens
    # Contractions are whole tokens (and stop words here), never split pieces.
    for fragment in ("don", "t", "isn", "don't", "isn't", "don’t"):
        assert fragment not in tokens


def test_tokenize_drops_numbers_single_letters_punctuation_and_emoji():
    tokens = tokenize("5 stars!!! 100% a x 😀 ... -- size 42 b2b")
    assert tokens == ["stars", "size", "b2b"]


def test_tokenize_cleans_input():
    assert tokenize("<b>Trail</b> https://shop.example.com/x runners") == ["trail", "runners"]


def test_tokenize_keeps_non_latin_scripts_with_marks():
    # Devanagari vowel signs are combining marks; words must not be cut at them.
    assert tokenize("हिन्दी भाषा") == ["हिन्दी", "भाषा"]


@pytest.mark.parametrize("text", ["", "   ", "!!!", "的了是", "the and of", "12 34"])
def test_tokenize_empty_results(text):
    assert tokenize(text) == []


def test_stop_word_lists_are_lowercase_and_include_negation_decision():
    assert all(w == w.lower() for w in ENGLISH_STOP_WORDS_EXTENDED)
    assert "不" in CHINESE_STOP_WORDS and "not" in ENGLISH_STOP_WORDS_EXTENDED


# ---------------------------------------------------------------------------
# tokenize_frame
# ---------------------------------------------------------------------------


def test_tokenize_frame_columns_and_dtypes():
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "text": ["<i>Great</i> trail shoes", "我很喜欢这款跑步鞋", None, "great trail shoes"],
        }
    )
    out = tokenize_frame(frame)
    assert out.height == 4
    assert out.columns == ["id", "text", "text_clean", "language", "tokens", "n_tokens"]
    assert out.schema["text_clean"] == pl.String
    assert out.schema["language"] == pl.String
    assert out.schema["tokens"] == pl.List(pl.String)
    assert out.schema["n_tokens"] == pl.UInt32
    assert out["id"].to_list() == [1, 2, 3, 4]
    assert out["text_clean"].to_list()[0] == "Great trail shoes"
    assert out["language"].to_list() == ["en", "zh", "", "en"]
    assert out["tokens"].to_list()[0] == ["great", "trail", "shoes"]
    assert out["tokens"].to_list()[2] == []
    assert out["text_clean"].to_list()[2] == ""
    assert out["n_tokens"].to_list() == [len(t) for t in out["tokens"].to_list()]
    assert out["n_tokens"].to_list()[2] == 0
    assert out["tokens"].to_list()[1] == tokenize("我很喜欢这款跑步鞋")


def test_tokenize_frame_custom_column_and_empty_frame():
    out = tokenize_frame(pl.DataFrame({"body": ["Hello trail"]}), text_column="body")
    assert out["tokens"].to_list() == [["hello", "trail"]]

    empty = tokenize_frame(pl.DataFrame({"text": []}, schema={"text": pl.String}))
    assert empty.height == 0
    assert empty.schema["tokens"] == pl.List(pl.String)
    assert empty.schema["n_tokens"] == pl.UInt32


def test_tokenize_frame_missing_column():
    with pytest.raises(KeyError):
        tokenize_frame(pl.DataFrame({"body": ["x"]}))


def test_tokenize_frame_50k_texts_is_fast():
    rng = random.Random(7)
    english = "running trail shoes comfortable battery camera phone coffee delivery price quality".split()
    chinese = ["我很喜欢这款跑步鞋", "手机电池续航不错", "咖啡味道很香，物流很快", "价格便宜质量好"]
    texts = [
        " ".join(rng.choice(english) for _ in range(12)) + f" <b>#{i}</b>"
        if i % 2
        else "".join(rng.choice(chinese) for _ in range(2)) + str(i)
        for i in range(50_000)
    ]
    tokenize_frame(pl.DataFrame({"text": texts[:10]}))  # jieba dictionary load
    start = time.perf_counter()
    out = tokenize_frame(pl.DataFrame({"text": texts}))
    elapsed = time.perf_counter() - start
    assert out.height == 50_000
    assert elapsed < 20.0
