"""The user's pages agree with the tree and the code: links resolve, the README's tables name what the node has."""

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from vatex_ros.node import topics
from vatex_ros.node.params import NodeParams, read_yaml

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "training" / "configs").glob("*/README.md"))]
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _prose(path: Path) -> str:
    """The page without its fenced code blocks (a `[x](y)` inside code is not a link)."""
    return re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a markdown page: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+\s+(.*)$", _prose(path), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def _table(text: str, header: str) -> list[list[str]]:
    """Cells of the markdown table whose header row starts with ``header``, one list per body row."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _names(cell: str) -> str:
    """The first `code` span of a cell, e.g. ``'`image` (remap to the camera)'`` -> ``image``."""
    return re.search(r"`([^`]+)`", cell).group(1)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in _LINK.findall(_prose(page)):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: not checked here
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no {resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved}")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_parameter_table_is_the_node_parameters():
    rows = _table(README.read_text(), "| parameter |")
    documented = {_names(row[0]): row for row in rows}
    assert list(documented) == NodeParams.names(), "README's parameter table: same names, same order as params.py"
    shipped = read_yaml(ROOT / "config" / "vatex.yaml")["/**"]["ros__parameters"]
    assert set(shipped) == set(documented)
    for f in dataclasses.fields(NodeParams):
        default = documented[f.name][1].strip("`")
        expected = {True: "true", False: "false"}.get(f.default, f.default) if type(f.default) is bool else f.default
        if isinstance(f.default, tuple):  # a list parameter, written as YAML writes it
            expected = "[" + ", ".join(f.default) + "]"
        assert default == (f'""' if expected == "" else str(expected)), f"{f.name}: README says {default}"


def test_readme_says_which_parameters_wait_for_configure():
    """The rclpy node refuses a change to CONFIGURE_TIME parameters while configured: none may read "any time"."""
    source = (ROOT / "vatex_ros" / "rclpy" / "node.py").read_text()  # parsed, not imported: rclpy may be absent
    assignment = next(n for n in ast.parse(source).body if isinstance(n, ast.Assign)
                      and getattr(n.targets[0], "id", None) == "CONFIGURE_TIME")
    configure_time = set(ast.literal_eval(assignment.value))
    applies = {_names(row[0]): row[3] for row in _table(README.read_text(), "| parameter |")}
    assert set(applies.values()) == {"configure", "any time"}
    assert {name for name, when in applies.items() if when == "any time"}.isdisjoint(configure_time)
    assert configure_time <= {name for name, when in applies.items() if when == "configure"}


def test_readme_topic_table_is_the_node_topics():
    documented = {_names(row[0]) for row in _table(README.read_text(), "| topic |")}
    defined = {value.name for value in vars(topics).values() if isinstance(value, topics.Topic)}
    assert documented == defined
