"""The code blocks of the documentation, read as the tests that run them need them: a
page's example files are tested as written, so the docs cannot drift from the code."""
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENDING = os.path.join(REPO, "docs", "extending.md")


def section(heading: str, page: str = EXTENDING) -> str:
    """The text of ``page`` from the heading ``heading`` (e.g. "## Add a model") to the
    next heading of the same level."""
    text = open(page).read()
    level = heading.split(" ", 1)[0] + " "
    start = text.index(heading + "\n")
    rest = text[start + len(heading) + 1:]
    end = rest.find("\n" + level)
    return heading + "\n" + (rest if end < 0 else rest[:end + 1])


def block(heading: str, language: str = "python", page: str = EXTENDING) -> str:
    """The first ``language`` code block under ``heading``."""
    return section(heading, page).split(f"```{language}\n", 1)[1].split("```", 1)[0]
