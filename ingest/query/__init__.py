"""Brand query language and matcher (pure logic, no I/O). Syntax reference: ingest/QUERY.md.

>>> m = BrandMatcher([BrandSpec("Acme", query='acme NOT "acme corp fake"', aliases=("ایکمی", "აკმე"))])
>>> m.match(MatchDoc("Loving my new #AcmePhone"))
['Acme']
>>> m.match(MatchDoc("ایکمی، بہترین ہے"))
['Acme']
"""

from brandpulse.text import normalize

from ._eval import MatchDoc
from ._matcher import BrandMatcher, BrandSpec
from ._parser import Query, QuerySyntaxError, compile_query

__all__ = [
    "BrandMatcher",
    "BrandSpec",
    "MatchDoc",
    "Query",
    "QuerySyntaxError",
    "compile_query",
    "normalize",
]
