"""The source keeps the shape STYLE.md asks for where a check is cheap: lines of Python at most 120 characters."""

from pathlib import Path

ROOT = Path(__file__).parents[1]
MAX_LINE = 120
SOURCES = ("vatex_core", "vatex_ros", "training", "tests", "scripts", "launch", "setup.py")


def _python_files() -> list[Path]:
    files = []
    for name in SOURCES:
        path = ROOT / name
        files += [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


def test_python_lines_fit_in_120_characters():
    files = _python_files()
    assert len(files) > 100, "the source tree was not found"
    long = [f"{f.relative_to(ROOT)}:{n}: {len(line)}" for f in files
            for n, line in enumerate(f.read_text().splitlines(), 1) if len(line) > MAX_LINE]
    assert not long, f"{len(long)} line(s) over {MAX_LINE} characters:\n" + "\n".join(long[:20])
