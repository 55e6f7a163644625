"""Text cleaning for connectors: the visible text of the HTML that feeds and APIs deliver.

The markup comes from anyone who can post (a Mastodon status from any instance, an RSS item, a
Reddit self-text), so the scanner is linear in the input however it is built: every search
moves forward, and a construct that never ends (an unclosed tag, comment or quote) ends the
markup instead of being searched for again from every ``<``. The standard library's HTMLParser,
used before, re-scanned unclosed constructs: 50k characters of ``<a b`` took 16 s and 200k took
245 s; ``<!--`` and ``<a href='`` runs were as bad.
"""

from __future__ import annotations

import html
import re

_BLOCK_TAGS = frozenset(
    {"p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
     "blockquote", "pre", "section", "article", "header", "footer", "table", "hr", "dd", "dt"}
)
# Elements whose content is not visible text; their content runs to the matching end tag.
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template"})
_SKIP_END = {name: re.compile(rf"</{name}(?=[\s/>])", re.IGNORECASE) for name in _SKIP_TAGS}

_TAG_NAME = re.compile(r"</?([A-Za-z][A-Za-z0-9:_-]*)")
_QUOTE = re.compile(r"[\"']")


def _tag_end(s: str, i: int) -> int:
    """Index just after the ``>`` that ends a tag whose attributes start at ``i``; -1 if none.

    A ``>`` inside a quoted attribute value does not end the tag. ``gt`` is only searched again
    once a quoted value has run past it, so each character is looked at a bounded number of times.
    """
    gt = s.find(">", i)
    while gt != -1:
        quote = _QUOTE.search(s, i, gt)
        if quote is None:
            return gt + 1
        close = s.find(quote.group(), quote.end())
        if close == -1:
            return -1
        i = close + 1
        if close > gt:
            gt = s.find(">", i)
    return -1


def _markup_to_text(s: str) -> str:
    out: list[str] = []
    pos = 0
    n = len(s)
    while pos < n:
        lt = s.find("<", pos)
        if lt == -1:
            out.append(s[pos:])
            break
        out.append(s[pos:lt])
        if s.startswith("<!--", lt):
            end = s.find("-->", lt + 4)
            if end == -1:
                break  # a comment runs to the end of the document
            pos = end + 3
            continue
        if s.startswith("<![CDATA[", lt):
            end = s.find("]]>", lt + 9)
            if end == -1:
                break
            pos = end + 3
            continue
        tag = _TAG_NAME.match(s, lt)
        if tag is None:
            if s.startswith(("<!", "<?", "</"), lt):
                # a declaration, a processing instruction or a bogus end tag: dropped to the ">"
                end = s.find(">", lt + 2)
                if end == -1:
                    break
                pos = end + 1
            else:
                out.append("<")  # "a < b": not markup
                pos = lt + 1
            continue
        end = _tag_end(s, tag.end())
        if end == -1:
            out.append(s[lt:])  # a tag that never closes: the rest is text, as HTMLParser has it
            break
        name = tag.group(1).lower()
        closing = s[lt + 1] == "/"
        pos = end
        if name in _SKIP_TAGS and not closing and not s.endswith("/>", lt, end):
            close = _SKIP_END[name].search(s, end)
            if close is None:
                break
            gt = s.find(">", close.end())
            if gt == -1:
                break
            pos = gt + 1
        elif name in _BLOCK_TAGS:
            out.append("\n")
    return html.unescape("".join(out))


# Whitespace other than a newline, then the newlines with whatever spaces surround them. The
# first pass leaves single spaces only, so the second cannot backtrack over long runs (r"\s*\n\s*"
# was quadratic in a run of em spaces: 40k of them took 1.7 s).
_SPACES = re.compile(r"[^\S\n]+")
_NEWLINES = re.compile(r" ?\n[ \n]*")


def html_to_text(markup: str | None) -> str:
    """Visible text of an HTML fragment: tags dropped, entities decoded, whitespace tidied.

    Paragraph-like tags become line breaks so sentences from different paragraphs don't fuse.
    """
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return _tidy(markup)
    return _tidy(_markup_to_text(markup))


def _tidy(text: str) -> str:
    text = _SPACES.sub(" ", text)
    text = _NEWLINES.sub("\n", text)
    return text.strip()
