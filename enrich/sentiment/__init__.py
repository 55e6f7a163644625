"""Sentiment of social posts: the lexicon analyzer (``lexicon.py``) and model text normalisation (``text.py``)."""

from enrich.sentiment.lexicon import LEXICON_LANGUAGES, SentimentAnalyzer, SentimentConfig

__all__ = ["LEXICON_LANGUAGES", "SentimentAnalyzer", "SentimentConfig"]
