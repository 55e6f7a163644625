"""Brand query language and matcher (ingest.query)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.query import (
    BrandMatcher,
    BrandSpec,
    MatchDoc,
    QuerySyntaxError,
    compile_query,
    normalize,
)


def m(query: str, text: str, **meta: str) -> bool:
    return compile_query(query).matches(MatchDoc(text, **meta))


def err(query: str) -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as info:
        compile_query(query)
    return info.value


# --------------------------------------------------------------------------------------------
# Boolean operators and precedence


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("acme AND phone", "my acme phone", True),
        ("acme AND phone", "my acme laptop", False),
        ("acme OR globex", "globex rocks", True),
        ("acme OR globex", "initech rocks", False),
        ("acme NOT phone", "acme laptop", True),
        ("acme NOT phone", "acme phone", False),
        ("acme AND NOT phone", "acme phone", False),
        ("NOT phone", "acme laptop", True),
        ("NOT NOT phone", "a phone", True),
        ("acme phone", "phone by acme", True),  # implicit AND, order-free
        ("acme phone", "acme laptop", False),
        ("(acme OR globex) AND (phone OR laptop)", "globex laptop", True),
        ("(acme OR globex) AND (phone OR laptop)", "globex tablet", False),
    ],
)
def test_boolean_operators(query: str, text: str, expected: bool) -> None:
    assert m(query, text) is expected


def test_lowercase_operator_words_are_search_terms() -> None:
    assert str(compile_query("acme or globex")) == "(acme AND or AND globex)"
    assert not m("acme or globex", "acme rocks")
    assert m("acme or globex", "acme or globex")
    assert m('"rock and roll"', "Rock and roll!")


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("a OR b c", "(a OR (b AND c))"),
        ("a b OR c", "((a AND b) OR c)"),
        ("a AND b OR c AND d", "((a AND b) OR (c AND d))"),
        ("NOT a b", "(NOT a AND b)"),
        ("NOT a OR b", "(NOT a OR b)"),
        ("NOT a NEAR/2 b", "NOT (a NEAR/2 b)"),
        ("a NEAR/2 b OR c", "((a NEAR/2 b) OR c)"),
        ("a NEAR/2 b c", "((a NEAR/2 b) AND c)"),
        ("a NEAR/1 b ONEAR/3 c", "((a NEAR/1 b) ONEAR/3 c)"),
        ("a OR (b OR c)", "(a OR (b OR c))"),
        ("title:a b", "(title:a AND b)"),
        ("title:(a OR \"b c\")", "(title:a OR title:\"b c\")"),
    ],
)
def test_precedence(query: str, canonical: str) -> None:
    assert str(compile_query(query)) == canonical


def test_precedence_is_observable_not_just_printed() -> None:
    # a OR (b AND c): "a" alone matches; with AND binding looser than OR it would not.
    assert m("a OR b c", "just a")
    assert not m("a OR b c", "just b")
    # NOT binds tighter than AND: "NOT a b" is (NOT a) AND b.
    assert m("NOT a b", "only b")
    assert not m("NOT a b", "a and b")


# --------------------------------------------------------------------------------------------
# Terms, phrases, wildcards


def test_terms_match_whole_words_only() -> None:
    assert m("acme", "Acme makes phones")
    assert m("acme", "(acme)")
    assert m("acme", "I ❤️acme!!!")
    assert not m("acme", "lacmeo and acmes and lacme")
    assert m("acme2", "the acme2 launch")
    assert not m("acme", "the acme2 launch")


def test_underscore_and_hyphen_separate_plain_words() -> None:
    assert m("acme", "snake_case_acme_name")
    assert m("acme", "pre-acme-era")
    assert m("t-mobile", "T-Mobile outage")  # a hyphenated term is the phrase "t mobile"
    assert m("t-mobile", "t mobile outage")
    assert not m("t-mobile", "mobile t")


def test_phrases() -> None:
    assert m('"acme corp"', "Shares of ACME Corp. rose")
    assert m('"acme corp"', "acme, corp")  # punctuation between words does not break a phrase
    assert not m('"acme corp"', "acme big corp")
    assert not m('"acme corp"', "corp acme")
    assert m('"new acme phone"', "the new acme phone")
    assert not m('"new acme phone"', "the new acme")
    assert m('"acme"', "ACME")  # a one-word phrase is just a term
    assert m("“acme corp”", "acme corp")  # typographic quotes


def test_wildcards() -> None:
    assert m("acm*", "ACME")
    assert m("acm*", "acmecorp rocks")
    assert m("acm*", "acm")
    assert not m("acm*", "lacme")
    assert not m("acm*", "ac me")
    assert m('"acme sup*"', "acme support team")
    assert not m('"acme sup*"', "acme team support")
    assert m("ایکم*", "ایکمیاں")


def test_wildcard_applies_to_hashtags() -> None:
    assert m("acm*", "#AcmeFail")
    assert not m("acm*", "#lacme")


# --------------------------------------------------------------------------------------------
# Hashtags and handles


def test_plain_term_matches_tags_starting_with_it() -> None:
    assert m("acme", "so annoyed #AcmeFail")
    assert m("acme", "ask @acme_support")
    assert m("acme", "#acme")
    assert not m("acme", "#MyAcme")
    assert not m("acme", "@the_acme")


def test_tag_only_terms() -> None:
    assert m("#acme", "love #ACME")
    assert not m("#acme", "love acme")
    assert not m("#acme", "love #AcmeFail")
    assert not m("#acme", "love @acme")
    assert m("@acme", "cc @Acme")
    assert not m("@acme", "cc #acme")
    assert m("#acme*", "#AcmeFail")
    assert m("@acme_support", "@ACME_Support help")


def test_at_sign_inside_a_word_is_not_a_handle() -> None:
    # In an e-mail address the domain is ordinary text, not a handle.
    assert m("acme", "mail support@acme.com")
    assert not m("@acme", "mail support@acme.com")
    assert not m("#b", "a#b")


def test_phrase_matches_run_together_tag() -> None:
    assert m('"acme corp"', "#AcmeCorp")
    assert m('"acme corp"', "#AcmeCorpFail")
    assert m('"acme corp"', "@acme_corp")
    assert not m('"acme corp"', "#CorpAcme")


def test_index_finds_tags_through_their_underscore_free_form() -> None:
    bm = BrandMatcher([BrandSpec("A", query="#acmecorp"), BrandSpec("B", query="acmecorp*")])
    assert bm.match(doc("#Acme_Corp")) == ["A", "B"]
    assert compile_query("#acmecorp").matches(doc("#Acme_Corp"))


def test_phrase_words_can_be_tags() -> None:
    assert m('"acme rocks"', "#acme rocks")


# --------------------------------------------------------------------------------------------
# NEAR / ONEAR


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("acme NEAR/0 phone", "acme phone", True),
        ("acme NEAR/0 phone", "phone acme", True),
        ("acme NEAR/0 phone", "acme new phone", False),
        ("acme NEAR/2 phone", "acme shiny new phone", True),
        ("acme NEAR/2 phone", "acme very shiny new phone", False),
        ("acme NEAR/2 phone", "phone is great, acme", True),
        ("acme ONEAR/2 phone", "acme shiny phone", True),
        ("acme ONEAR/2 phone", "phone by acme", False),
        ("(acme OR globex) NEAR/1 (phone OR laptop)", "globex gaming laptop", True),
        ("(acme OR globex) NEAR/1 (phone OR laptop)", "globex gaming x laptop", False),
        ('"acme corp" NEAR/1 shares', "shares of acme corp", True),
        ('"acme corp" ONEAR/1 shares', "shares of acme corp", False),
        ("acm* NEAR/1 phone", "acmecorp phone", True),
        ("acme NEAR/3 #fail", "acme did it again #fail", True),
    ],
)
def test_near(query: str, text: str, expected: bool) -> None:
    assert m(query, text) is expected


def test_near_needs_two_distinct_occurrences() -> None:
    assert not m("acme NEAR/3 acme", "acme")
    assert m("acme NEAR/3 acme", "acme and acme")
    assert not m("acme NEAR/3 acm*", "acme")


def test_near_chains_on_the_combined_span() -> None:
    q = "acme NEAR/0 phone NEAR/1 broken"
    assert m(q, "acme phone is broken")
    assert m(q, "broken acme phone")
    assert not m(q, "acme phone is very broken")


def test_near_does_not_cross_title_and_text() -> None:
    assert not m("acme NEAR/5 phone", "phone", title="acme")
    assert m("acme NEAR/5 phone", "x", title="acme phone")


# --------------------------------------------------------------------------------------------
# Fields


def test_title_and_text_fields() -> None:
    assert m("acme", "nothing", title="Acme news")
    assert m("title:acme", "nothing", title="Acme news")
    assert not m("title:acme", "acme")
    assert m("text:acme", "acme", title="other")
    assert not m("text:acme", "other", title="acme")
    assert m("title:(acme OR globex) phone", "a phone", title="globex")
    assert m('title:"acme corp"', "", title="acme corp")
    assert not m("title:acme NEAR/2 phone", "acme phone", title="x")
    assert m("title:acme NEAR/2 phone", "", title="acme phone")


def test_author_field() -> None:
    assert m("author:acme_support", "hi", author="@ACME_Support")
    assert m("author:@acme_support", "hi", author="acme_support")
    assert not m("author:acme", "hi", author="acme_support")
    assert m("author:acme*", "hi", author="acme_support")
    assert m('author:"Jane Doe"', "hi", author="jane   doe")
    assert not m("author:acme", "hi")


def test_site_field_matches_host_and_subdomains() -> None:
    assert m("site:acme.com", "x", url="https://acme.com/post/1")
    assert m("site:acme.com", "x", url="https://blog.acme.com/post/1")
    assert m("site:acme.com", "x", url="http://user@WWW.ACME.COM:8080/?q=1")
    assert not m("site:acme.com", "x", url="https://notacme.com/")
    assert not m("site:acme.com", "x", url="https://acme.com.evil.org/")
    assert m("site:www.acme.com", "x", url="https://acme.com/")
    assert m("site:https://acme.com/", "x", url="acme.com/p")
    assert m("site:bücher.de", "x", url="https://xn--bcher-kva.de/")
    assert not m("site:acme.com", "x")


def test_lang_and_country_fields() -> None:
    assert m("lang:ur", "x", lang="ur")
    assert m("lang:UR", "x", lang="ur-PK")
    assert not m("lang:ur-in", "x", lang="ur-PK")
    assert not m("lang:ur", "x", lang="ar")
    assert not m("lang:ur", "x")
    assert m("country:pk", "x", country="PK")
    assert not m("country:pk", "x", country="IN")
    assert m("acme (lang:ur OR lang:ar)", "acme", lang="ar")
    assert not m("acme NOT country:us", "acme", country="US")


def test_field_names_are_case_insensitive() -> None:
    assert m("Title:acme", "", title="acme")


# --------------------------------------------------------------------------------------------
# Unicode: normalisation, scripts, word boundaries


def test_nfkc_and_casefold_on_both_sides() -> None:
    assert m("acme", "ＡＣＭＥ launches")  # fullwidth letters
    assert m("ＡＣＭＥ", "acme")
    assert m("ﬁnance", "finance")  # ligature
    assert m("straße", "STRASSE")  # casefold, not lower
    assert m("acme", "Ａｃｍｅ（ｃｏｒｐ）")
    assert m("café", "CAFE\u0301")  # decomposed accent composes under NFKC


def test_latin_accents_are_significant() -> None:
    assert not m("cafe", "café")


def test_fullwidth_syntax_characters() -> None:
    assert str(compile_query("（acme ＯＲ globex）")) == "(acme OR globex)"


URDU = "ایکمی"
GEORGIAN = "აკმე"


@pytest.mark.parametrize(
    "text",
    [
        f"میں نے {URDU} کا فون خریدا",
        f"{URDU}، بہترین ہے",  # Arabic comma attached
        f"کیا یہ {URDU}؟",  # Arabic question mark
        f"یہ {URDU}۔",  # Urdu full stop
        f"{URDU}؛ پھر",  # Arabic semicolon
        f"({URDU})",
        f"{URDU}\u200cکا",  # ZWNJ separates a suffix
        f"\u200f{URDU}\u200f",  # RTL marks around
    ],
)
def test_urdu_word_boundaries(text: str) -> None:
    assert m(URDU, text)


@pytest.mark.parametrize("text", [f"{URDU}اں", f"ب{URDU}", f"{URDU}کا"])
def test_urdu_term_not_found_inside_longer_word(text: str) -> None:
    assert not m(URDU, text)


def test_arabic_script_letter_variants_and_marks_fold() -> None:
    arabic_keyboard = "ايكمي"  # Arabic yeh and kaf instead of Farsi yeh and keheh
    assert m(URDU, arabic_keyboard)
    assert m(arabic_keyboard, URDU)
    assert m("ايكمي", "ايـــكمي")  # tatweel
    assert m("ايكمي", "اَيْكَمِي")  # harakat
    assert m("أحمد", "احمد")  # hamza on alef
    assert m("123", "١٢٣ and ۱۲۳")  # Arabic-Indic digits
    assert m("۱۲۳", "123")


def test_arabic_definite_article_and_clitics() -> None:
    assert m("ايكمي", "هاتف الايكمي جديد")
    assert m("ايكمي", "والايكمي")
    assert m("ايكمي", "بالايكمي")
    assert m("ايكمي", "للايكمي")
    assert m("ايكمي", "#الايكمي")
    assert m("ايكمي NEAR/0 هاتف", "الايكمي هاتف")
    assert not m("الايكمي", "ايكمي")  # the query asked for the article explicitly
    assert not m("ايكمي", "سايكمي")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{GEORGIAN} არის კარგი", True),
        ("ᲐᲙᲛᲔ არის კარგი", True),  # Mtavruli capitals casefold to Mkhedruli
        (f"ვიყიდე {GEORGIAN}, ძალიან კარგია.", True),
        (f"„{GEORGIAN}“", True),
        (f"{GEORGIAN}ს ტელეფონი", False),  # case ending makes another word: use a wildcard
        (f"ა{GEORGIAN}", False),
    ],
)
def test_georgian_word_boundaries(text: str, expected: bool) -> None:
    assert m(GEORGIAN, text) is expected


def test_georgian_wildcard_covers_case_endings() -> None:
    assert m(f"{GEORGIAN}*", f"{GEORGIAN}ს ტელეფონი")


def test_combining_marks_stay_inside_words() -> None:
    assert m("किताब", "यह किताब अच्छी है")
    assert not m("कत", "यह किताब अच्छी है")


def test_scripts_mixed_in_one_query() -> None:
    q = f'acme OR {URDU} OR {GEORGIAN} OR "ايكمي"'
    assert m(q, f"{GEORGIAN}!")
    assert m(q, "ايكمي")
    assert not m(q, "nothing here")


# --------------------------------------------------------------------------------------------
# Syntax errors


@pytest.mark.parametrize(
    ("query", "position", "fragment"),
    [
        ("(acme OR foo", 0, "unbalanced parenthesis"),
        ("acme OR foo)", 11, "unbalanced parenthesis"),
        ("((acme) OR (foo)", 0, "never closed"),
        ("acme AND", 8, "unexpected end"),
        ("acme OR OR foo", 8, "unexpected OR"),
        ("AND acme", 0, "unexpected AND"),
        ("", 0, "empty query"),
        ("   ", 0, "empty query"),
        ("acme ()", 5, "empty parentheses"),
        ('acme "corp', 5, "unterminated"),
        ('acme ""', 5, "empty phrase"),
        ("ac*me", 2, "wildcard"),
        ("a*", 0, "wildcard too short"),
        ("*", 0, "wildcard"),
        ("acme NEAR phone", 5, "NEAR distance"),
        ("acme NEAR/x phone", 5, "NEAR/ONEAR distance"),
        ("NEAR/3 acme", 0, "unexpected NEAR/3"),
        ("acme NEAR/3", 11, "unexpected end"),
        ("(a AND b) NEAR/3 c", 0, "NEAR operand"),
        ("a NEAR/3 NOT b", 9, "unexpected NOT"),
        ("a NEAR/3 lang:ur", 9, "NEAR operand"),
        ("foo:bar", 0, "unknown field"),
        ("acme athor:bob", 5, "unknown field"),
        ("title: acme", 6, "missing field value"),
        ("title:text:acme", 6, "nested field"),
        ("site:acme.com/path", 5, "site value"),
        ("site:acme.*", 10, "wildcard"),
        ("lang:urdu-", 5, "lang value"),
        ("country:pak", 8, "country value"),
        ("author:(a NEAR/1 b)", 10, "NEAR"),
        ("!!!", 0, "no letters"),
        ("acme\n  AND (foo", 11, "line 2, column 7"),
    ],
)
def test_syntax_error_positions(query: str, position: int, fragment: str) -> None:
    e = err(query)
    assert e.position == position, str(e)
    assert e.query == query
    assert fragment in str(e)
    assert isinstance(e, ValueError)


def test_error_message_has_column_and_caret_line() -> None:
    e = err("(acme OR foo")
    assert str(e) == (
        "unbalanced parenthesis at column 1: '(' is never closed\n"
        "  (acme OR foo\n"
        "  ^"
    )
    e = err("acme OR foo)")
    lines = str(e).splitlines()
    assert lines[0].startswith("unbalanced parenthesis at column 12")
    assert lines[1] == "  acme OR foo)"
    assert lines[2] == "  " + " " * 11 + "^"


def test_caret_accounts_for_wide_characters() -> None:
    e = err("ＡＢ )")
    assert e.position == 3
    assert str(e).splitlines()[2] == "  " + " " * 5 + "^"


def test_caret_on_the_right_line_of_a_multiline_query() -> None:
    lines = str(err("acme\n  AND (foo")).splitlines()
    assert lines[1:] == ["    AND (foo", "  " + " " * 6 + "^"]


# --------------------------------------------------------------------------------------------
# Brands


def doc(text: str, **meta: str) -> MatchDoc:
    return MatchDoc(text, **meta)


def test_brand_without_query_or_aliases_matches_its_name() -> None:
    bm = BrandMatcher([BrandSpec("Acme"), BrandSpec("Acme Corp")])
    assert bm.match(doc("acme rocks")) == ["Acme"]
    assert bm.match(doc("ACME corp rocks")) == ["Acme", "Acme Corp"]
    assert bm.match(doc("#AcmeCorp rocks")) == ["Acme", "Acme Corp"]


def test_aliases_are_ored_literal_terms_in_several_scripts() -> None:
    bm = BrandMatcher([BrandSpec("Acme", aliases=("acme", URDU, GEORGIAN, "Acme Corp", "acm*"))])
    for text in ("acme", f"{URDU}، ok", f"{GEORGIAN}!", "acmetech", "#acmefail"):
        assert bm.match(doc(text)) == ["Acme"], text
    assert bm.match(doc("globex")) == []


def test_alias_text_is_literal_not_a_query() -> None:
    bm = BrandMatcher([BrandSpec("B", aliases=("Rock AND Roll",))])
    assert bm.match(doc("rock and roll")) == ["B"]
    assert bm.match(doc("rock roll")) == []


def test_query_and_aliases_are_combined_with_or() -> None:
    bm = BrandMatcher([BrandSpec("Acme", query="acme NEAR/1 phone", aliases=(URDU,))])
    assert bm.match(doc("acme phone")) == ["Acme"]
    assert bm.match(doc("acme laptop")) == []
    assert bm.match(doc(URDU)) == ["Acme"]


def test_exclude_terms() -> None:
    bm = BrandMatcher([BrandSpec("Acme", exclude_terms=("acme hiring", "job*", "#ad"))])
    assert bm.match(doc("acme rocks")) == ["Acme"]
    assert bm.match(doc("Acme hiring now")) == []
    assert bm.match(doc("acme jobs")) == []
    assert bm.match(doc("acme #ad")) == []
    assert bm.match(doc("acme ad")) == ["Acme"]


def test_exclude_authors() -> None:
    bm = BrandMatcher([BrandSpec("Acme", exclude_authors=("@AcmeBot", "spam_account"))])
    assert bm.match(doc("acme", author="acmebot")) == []
    assert bm.match(doc("acme", author="@SPAM_account")) == []
    assert bm.match(doc("acme", author="fan")) == ["Acme"]
    assert bm.match(doc("acme")) == ["Acme"]


def test_language_allow_list() -> None:
    bm = BrandMatcher([BrandSpec("Acme", languages=("ur", "EN")), BrandSpec("Any", query="acme")])
    assert bm.match(doc("acme", lang="ur")) == ["Acme", "Any"]
    assert bm.match(doc("acme", lang="en-GB")) == ["Acme", "Any"]
    assert bm.match(doc("acme", lang="es")) == ["Any"]
    # An allow-list cannot be satisfied by an unknown language.
    assert bm.match(doc("acme")) == ["Any"]


def test_several_brands_in_config_order() -> None:
    specs = [BrandSpec("Zeta", query="phone"), BrandSpec("Acme"), BrandSpec("Globex", query="acme")]
    bm = BrandMatcher(specs)
    assert bm.match(doc("acme phone")) == ["Zeta", "Acme", "Globex"]
    assert bm.brand_names == ["Zeta", "Acme", "Globex"]


def test_brand_with_only_negative_or_metadata_query() -> None:
    bm = BrandMatcher([BrandSpec("NotSpam", query="NOT spam"), BrandSpec("Site", query="site:acme.com")])
    assert bm.match(doc("hello")) == ["NotSpam"]
    assert bm.match(doc("spam", url="https://www.acme.com/x")) == ["Site"]


def test_brand_errors_name_the_brand() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        BrandMatcher([BrandSpec("Fine"), BrandSpec("Acme", query="(acme OR foo")])
    e = info.value
    assert e.brand == "Acme" and e.position == 0 and e.query == "(acme OR foo"
    assert str(e).startswith("brand 'Acme' query: unbalanced parenthesis at column 1")
    with pytest.raises(QuerySyntaxError, match="brand 'Acme' alias #2: wildcard too short"):
        BrandMatcher([BrandSpec("Acme", aliases=("acme", "a*"))])
    with pytest.raises(QuerySyntaxError, match="brand 'Acme' exclude term #1: term has no letters"):
        BrandMatcher([BrandSpec("Acme", exclude_terms=("!!",))])


def test_brand_spec_validation() -> None:
    with pytest.raises(TypeError, match="aliases must be a list of strings"):
        BrandMatcher([BrandSpec("Acme", aliases="acme")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duplicate brand name"):
        BrandMatcher([BrandSpec("Acme"), BrandSpec("Acme")])
    with pytest.raises(ValueError, match="non-empty"):
        BrandMatcher([BrandSpec(" ")])
    # Lists are accepted where tuples are declared (YAML loaders produce lists).
    assert BrandMatcher([BrandSpec("A", aliases=["x"])]).match(doc("x")) == ["A"]  # type: ignore[arg-type]


def test_blank_query_means_no_query() -> None:
    assert BrandMatcher([BrandSpec("Acme", query="  ")]).match(doc("acme")) == ["Acme"]


# --------------------------------------------------------------------------------------------
# Property-based tests

VOCAB = ["acme", "globex", "phone", "ایکمی", "აკმე", "ايكمي", "x"]
SEPS = [" ", ", ", "! ", "، ", "۔ ", "؟ ", " (", ") ", "\u200c", " - "]


@st.composite
def queries(draw: st.DrawFn, depth: int = 3) -> str:
    """Random well-formed queries over VOCAB (and a few fields)."""
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        w = draw(st.sampled_from(VOCAB))
        return draw(st.sampled_from([w, f"{w}*" if len(w) >= 2 else w, f"#{w}", f'"{w} phone"',
                                     "lang:ur", "site:acme.com", "author:bob", f"title:{w}"]))
    a = draw(queries(depth - 1))
    b = draw(queries(depth - 1))
    op = draw(st.sampled_from(["AND", "OR", "", "NOT"]))
    if op == "NOT":
        return f"({a}) NOT ({b})"
    return f"({a}) {op} ({b})".replace("  ", " ")


@st.composite
def docs(draw: st.DrawFn) -> MatchDoc:
    words = draw(st.lists(st.sampled_from([*VOCAB, "#acme", "@acme_x", "#ايكمي", "الايكمي",
                                           "lacme", "acmephone"]), max_size=8))
    seps = draw(st.lists(st.sampled_from(SEPS), min_size=len(words), max_size=len(words)))
    text = "".join(w + s for w, s in zip(words, seps, strict=True))
    title = draw(st.sampled_from([None, "acme", "phone acme"]))
    return MatchDoc(text, title=title, lang=draw(st.sampled_from([None, "ur", "en"])),
                    author=draw(st.sampled_from([None, "bob", "@alice"])),
                    url=draw(st.sampled_from([None, "https://blog.acme.com/x", "https://x.org"])))


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(queries(), queries(), docs())
def test_boolean_algebra(a: str, b: str, d: MatchDoc) -> None:
    qa, qb = compile_query(a).matches(d), compile_query(b).matches(d)
    assert compile_query(f"({a}) OR ({b})").matches(d) == (qa or qb)
    assert compile_query(f"({a}) AND ({b})").matches(d) == (qa and qb)
    assert compile_query(f"({a}) ({b})").matches(d) == (qa and qb)
    assert compile_query(f"NOT ({a})").matches(d) == (not qa)
    assert compile_query(f"({a}) NOT ({b})").matches(d) == (qa and not qb)


@FAST
@given(queries(), docs())
def test_canonical_form_round_trips(q: str, d: MatchDoc) -> None:
    c = compile_query(q)
    again = compile_query(str(c))
    assert str(again) == str(c)
    assert again.matches(d) == c.matches(d)


@settings(FAST, max_examples=60)
@given(st.lists(st.tuples(queries(), st.lists(st.sampled_from(VOCAB), max_size=2),
                          st.lists(st.sampled_from(["x", "globex phone"]), max_size=1)),
                min_size=1, max_size=6),
       st.lists(docs(), min_size=1, max_size=5))
def test_index_never_changes_the_answer(specs: list[tuple[str, list[str], list[str]]],
                                        ds: list[MatchDoc]) -> None:
    brands = [BrandSpec(f"b{i}", query=q, aliases=tuple(al), exclude_terms=tuple(ex))
              for i, (q, al, ex) in enumerate(specs)]
    fast, slow = BrandMatcher(brands), BrandMatcher(brands, use_index=False)
    for d in ds:
        assert fast.match(d) == slow.match(d)


@FAST
@given(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=10),
       st.lists(st.sampled_from(SEPS), min_size=10, max_size=10),
       st.sampled_from(VOCAB))
def test_term_matches_iff_word_present(words: list[str], seps: list[str], term: str) -> None:
    # Separators are all non-word characters, so the text's words are exactly `words` (none of
    # which starts with an Arabic article, so clitic stripping cannot add matches).
    text = "".join(w + s for w, s in zip(words, seps, strict=False))
    # Two VOCAB entries are the Urdu and Arabic-keyboard spellings of one word, which fold together.
    assert m(term, text) == (normalize(term) in {normalize(w) for w in words})


@FAST
@given(st.lists(st.sampled_from(["a1", "b1", "c1", "d1"]), min_size=1, max_size=12),
       st.integers(0, 4), st.booleans())
def test_near_against_reference(words: list[str], n: int, ordered: bool) -> None:
    op = "ONEAR" if ordered else "NEAR"
    expected = any(
        words[i] == "a1" and words[j] == "b1" and (i < j or not ordered) and abs(i - j) - 1 <= n
        for i in range(len(words)) for j in range(len(words)) if i != j
    )
    assert m(f"a1 {op}/{n} b1", " ".join(words)) == expected
