"""Every repository path the documentation names exists: in README.md and docs/*.md (code
spans and relative links, with their #anchors) and in the docstrings of the suite's
modules, classes and functions. A reader who follows a reference finds the file.

What counts as a path: a code span (`...` or ``...``) or link target without spaces,
placeholders (<name>, *, {}, $) or `key=value`, whose first component is one of the
repository's top-level entries (``experiments/engine/tuning.py``, ``docs/methods.md``,
``results/reported.yaml``). Paths in other repositories (the authors' code, larq-zoo)
start elsewhere and are left alone; the few files that a command writes and the
repository does not hold are listed in ``WRITTEN`` with the command."""
import ast
import os
import re
import tokenize

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = {name for name in os.listdir(REPO) if not name.startswith(".") or name == ".ci"} - {
    ".venv"}
PACKAGES = ("experiments", "models", "configs", "scripts", "tests")
# Written by a command, so named before they exist: path -> the command that writes it.
WRITTEN = {
    "results/gpu_check.json": "make gpu-check (on a GPU machine)",
    "results/figures/flips/": "make figures RUN=...",
    "results/compare": "bnn compare",
}
CODE = re.compile(r"``([^`\s]+)``|`([^`\s]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
BARE = re.compile(r"(?<![\w./-])((?:%s)/[\w./#-]*[\w/])" % "|".join(
    ("experiments", "models", "configs", "scripts", "results", "docs", "tests")))


def pages() -> list:
    docs = os.path.join(REPO, "docs")
    return [os.path.join(REPO, "README.md")] + sorted(
        os.path.join(docs, n) for n in os.listdir(docs) if n.endswith(".md"))


def python_files() -> list:
    return [os.path.join(folder, name) for package in PACKAGES
            for folder, _, names in os.walk(os.path.join(REPO, package))
            for name in sorted(names) if name.endswith(".py")]


def docstrings() -> list:
    """``[(file, text)]`` of every module, class and function docstring of the suite."""
    found = []
    for path in python_files():
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                 ast.AsyncFunctionDef)) and ast.get_docstring(node):
                found.append((path, ast.get_docstring(node, clean=False)))
    return found


def repo_path(token: str):
    """``token`` as a repository-relative path, or None when it is not one."""
    token = token.rstrip(".,:;)")
    if (not token or "=" in token or any(c in token for c in "<>*{}$[]|")
            or token.startswith(("/", "~", "http", "."))
            and not token.startswith(".ci/")):
        return None
    first = token.split("/", 1)[0]
    if first not in TOP or ("/" not in token and not os.path.isfile(os.path.join(REPO, first))
                            and "." not in first):
        return None
    return token


def comments() -> list:
    """``[(file, text)]`` of every comment of the suite's Python files."""
    found = []
    for path in python_files():
        with open(path) as f:
            found += [(path, t.string) for t in tokenize.generate_tokens(f.readline)
                      if t.type == tokenize.COMMENT]
    return found


def missing_paths(text: str, bare: bool = False) -> list:
    """The repository paths ``text`` names in code spans (and, with ``bare``, written
    plainly, as comments and docstrings do) that do not exist."""
    found = []
    tokens = [m.group(1) or m.group(2) for m in CODE.finditer(text)]
    if bare:
        tokens += BARE.findall(CODE.sub(" ", text))
    for token in tokens:
        path = repo_path(token)
        if not path:
            continue
        file, _, anchor = path.partition("#")
        where = os.path.join(REPO, file)
        if file in WRITTEN:
            continue
        if not os.path.exists(where) or (anchor and file.endswith(".md")
                                         and anchor not in anchors(where)):
            found.append(path)
    return found


def anchors(page: str) -> set:
    """GitHub's anchors of a Markdown page's headings."""
    out = set()
    for line in open(page).read().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            title = re.sub(r"[^\w\- ]", "", title.replace("`", ""))
            out.add(title.replace(" ", "-"))
    return out


def broken_links(page: str) -> list:
    broken = []
    text = open(page).read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks hold no links
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        file = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        if not os.path.exists(file):
            broken.append(target)
        elif anchor and file.endswith(".md") and anchor not in anchors(file):
            broken.append(target)
    return broken


@pytest.mark.parametrize("page", pages(), ids=lambda p: os.path.relpath(p, REPO))
def test_every_path_and_link_of_a_page_exists(page):
    text = re.sub(r"```python.*?```", "", open(page).read(), flags=re.S)  # example code
    assert missing_paths(text) == [], f"{os.path.relpath(page, REPO)} names missing paths"
    assert broken_links(page) == [], f"{os.path.relpath(page, REPO)} has broken links"


def test_every_path_named_in_a_docstring_or_comment_exists():
    missing = [(os.path.relpath(f, REPO), p) for f, text in docstrings() + comments()
               for p in missing_paths(text, bare=True)]
    assert missing == []


def test_the_check_finds_a_missing_path_and_a_broken_anchor(tmp_path):
    assert missing_paths("see `experiments/analysis/precision.py` and `docs/methods.md`") == [
        "experiments/analysis/precision.py"]
    assert missing_paths("# as in experiments/analysis/precision.py, docs/methods.md",
                         bare=True) == ["experiments/analysis/precision.py"]
    assert missing_paths("(docs/methods.md#the-models, docs/methods.md#no-such-section)",
                         bare=True) == ["docs/methods.md#no-such-section"]
    # not repository paths: another repository's, a placeholder, an override, a module
    assert missing_paths("`bnn_optimization/models/binarynet.py` `results/runs/<x>/` "
                         "`dataset.archive=/a/b` ``experiments.engine.runs``") == []
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## A section: here\n\n[ok](#a-section-here) [bad](#nowhere) "
                    "[gone](missing.md)\n")
    assert broken_links(str(page)) == ["#nowhere", "missing.md"]


def test_no_reference_to_a_document_users_do_not_have():
    """The methods are in docs/; nothing points at a specification outside the repository."""
    texts = [open(p).read() for p in pages()] + [doc for _, doc in docstrings()]
    for folder in ("configs", "experiments", "tests", "results"):
        for root, _, names in os.walk(os.path.join(REPO, folder)):
            if "runs" in root.split(os.sep) or "remade" in root.split(os.sep):
                continue
            texts += [open(os.path.join(root, n)).read() for n in names
                      if n.endswith((".py", ".md", ".yaml")) and n != "test_docs.py"]
    assert not [t for t in texts if re.search(r"\bSPEC\b", t)]


def test_every_experiment_docstring_opens_with_its_contract():
    """A config's docstring is its contract (as big_vision's): after its one-paragraph
    summary, the command, the reported result and the time on named hardware."""
    import inspect

    from configs import EXPERIMENTS

    for name, cls in EXPERIMENTS.items():
        paragraphs = inspect.getdoc(cls).split("\n\n")
        contract = next(p for p in paragraphs if p.startswith("Command: "))
        assert paragraphs.index(contract) <= 1, name
        assert f"``bnn run {name}" in contract, name
        assert "\nReported: " in contract and "\nTime (recorded by the committed runs): " in contract
