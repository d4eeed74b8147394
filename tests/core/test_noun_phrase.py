import pytest

from vatex_core.noun_phrase import clip_prompt, main_noun_phrase

# Each expected value was checked by hand against the rule: the noun chunk holding the root,
# else the first noun chunk among the root's children, else the whole expression.
CASES = [
    ("the red cup on the left", "the red cup"),
    ("man wearing a blue shirt", "man"),
    ("bowl with 3 red spots", "bowl"),
    ("black cat sleeping on a red and black luggage beside a gray and white kitten", "black cat"),
    ("guy sitting in the chair", "guy"),
    ("woman walking to the left", "woman"),
    ("a bird flying in between two other birds", "a bird"),
    ("green motorbike being jumped in the forest", "green motorbike"),
    ("brown camel moving to the right fence", "brown camel"),
    ("player in white holding a racket", "player"),
    ("the square next to the blue circle", "the square"),
    ("kid next to girl in pink pants", "kid"),
    ("zebra facing the camera", "zebra"),
    ("the biggest star", "the biggest star"),
    ("half of a sandwich on the plate", "half"),
    ("left", "left"),  # rollback: no noun chunk at all
    ("far left", "far left"),  # rollback
    ("is holding an umbrella", "an umbrella"),  # root is a verb: its child noun chunk
]


@pytest.mark.parametrize("expression, expected", CASES)
def test_main_noun_phrase(expression, expected):
    assert main_noun_phrase(expression) == expected


def test_prompt_template():
    assert clip_prompt("  the red cup on the left ") == "a photo of the red cup"
