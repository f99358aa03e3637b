"""The READMEs stay short and every relative link in them and in the docs pages resolves.

Details live one click away from each README (the template's benchmarks/README.md and
docs/, the generated project's docs/), so a renamed page or heading must not leave a
dead link behind: each link's file must exist and its #anchor must be a heading there.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from helpers import DOCS_PAGES, TEMPLATE, bake

LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)
TEMPLATE_PAGES = ("README.md", "benchmarks/README.md", "docs/testing.md")


def anchors(markdown: str) -> set[str]:
    """GitHub's ids for the headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = HEADING.findall(FENCE.sub("", markdown))
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def relative_links(page: Path) -> list[str]:
    """Link targets of a Markdown page outside code blocks, web addresses left out."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [
        target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target, re.IGNORECASE)
    ]


def dead_links(page: Path) -> list[str]:
    """Each relative link of ``page`` whose file or heading does not exist."""
    dead = []
    for target in relative_links(page):
        path, _, anchor = unquote(target).partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            dead.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(linked.read_text(encoding="utf-8")):
            dead.append(f"{target}: no heading #{anchor} in {linked.name}")
    return dead


@pytest.mark.parametrize("relative", TEMPLATE_PAGES)
def test_template_pages_link_only_to_what_exists(relative: str) -> None:
    assert dead_links(TEMPLATE / relative) == []


def test_template_readme_links_its_details() -> None:
    links = {unquote(target).partition("#")[0] for target in relative_links(TEMPLATE / "README.md")}
    assert {"benchmarks/README.md", "docs/testing.md"} <= links
    assert {f"{{{{cookiecutter.project_slug}}}}/docs/{page}.md" for page in DOCS_PAGES} <= links


@pytest.mark.parametrize(
    "answers",
    [{}, {"ci": "none", "docker": "no", "dvc_remote": "none"}, {"dvc_remote": "s3"}],
    ids=["defaults", "no-options", "s3"],
)
def test_baked_readme_and_docs_link_only_to_what_exists(
    tmp_path: Path, answers: dict[str, str]
) -> None:
    project = bake(tmp_path, **answers)
    pages = [project / "README.md", *sorted((project / "docs").glob("*.md"))]
    assert {page.stem for page in pages[1:]} == set(DOCS_PAGES)
    assert {page.name: dead_links(page) for page in pages} == {page.name: [] for page in pages}


def test_baked_readme_links_every_docs_page(default_project: Path) -> None:
    linked = {target.partition("#")[0] for target in relative_links(default_project / "README.md")}
    assert {f"docs/{page}.md" for page in DOCS_PAGES} <= linked


def test_each_docs_page_says_whom_it_is_for(default_project: Path) -> None:
    for page in DOCS_PAGES:
        paragraphs = (default_project / f"docs/{page}.md").read_text("utf-8").split("\n\n")
        assert paragraphs[0].startswith("# "), page
        assert paragraphs[1].startswith("For the "), page
        assert paragraphs[2].startswith("**In short.**"), page


def test_readmes_stay_short(default_project: Path) -> None:
    assert len((TEMPLATE / "README.md").read_text("utf-8").splitlines()) <= 120
    assert len((default_project / "README.md").read_text("utf-8").splitlines()) <= 100


def test_anchors_follow_githubs_rule() -> None:
    markdown = "# Drift: `make drift`\n## Fast inference (ONNX)\n```\n# not a heading\n```\n"
    assert anchors(markdown) == {"drift-make-drift", "fast-inference-onnx"}


# A `dvc` command a person would type; "dvc push failed" reports, it does not instruct.
DVC_COMMAND = re.compile(
    r"(?<![\w./-])dvc (?:add|checkout|commit|fetch|gc|metrics|plots|pull|push|remote|status)\b"
    r"(?! failed)"
)
HOW_TO_REACH_DVC = ("source .venv/bin/activate", "data.md#running-dvc-yourself")


def test_docs_pages_with_dvc_commands_say_how_to_reach_dvc(default_project: Path) -> None:
    """DVC lives in .venv: a page that shows a `dvc` command says to activate it (or links
    to the section that does); the make targets need nothing."""
    pages = sorted((default_project / "docs").glob("*.md"))
    silent = [
        page.name
        for page in pages
        if DVC_COMMAND.search(text := page.read_text(encoding="utf-8"))
        and not any(how in text for how in HOW_TO_REACH_DVC)
    ]
    assert silent == []


def message_strings(source: str) -> list[str]:
    """The string literals of a module that are not docstrings (messages, mostly)."""
    tree = ast.parse(source)
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, documented) and node.body and isinstance(node.body[0], ast.Expr)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


# Issue 20, item 6 rewrites this advice of the retrain report (it restores nothing).
KNOWN_DVC_ADVICE = {
    "To drop it: `git checkout dvc.lock && dvc checkout` puts the committed outputs back."
}


def test_printed_messages_reach_dvc_through_make_or_the_virtualenv(
    default_project: Path,
) -> None:
    """What the code and the Makefile print names a make target or `.venv/bin/dvc`, never
    a bare `dvc` that a fresh shell does not find."""
    offenders = []
    for path in sorted((default_project / "src").rglob("*.py")):
        for text in message_strings(path.read_text(encoding="utf-8")):
            if DVC_COMMAND.search(text) and text not in KNOWN_DVC_ADVICE:
                offenders.append(f"{path.name}: {text}")
    makefile = (default_project / "Makefile").read_text(encoding="utf-8")
    messages = re.findall(r'echo "([^"]*)"', makefile) + re.findall(
        r"^NO_REMOTE := (.*)$", makefile, re.M
    )
    offenders += [f"Makefile: {text}" for text in messages if DVC_COMMAND.search(text)]
    assert offenders == []


# The pages a person reads to run the model in production (issue 20: "can follow docs/ to
# read drift, promote, roll back and send a report, and no command they are told to run
# fails").
OPERATIONS_PAGES = ("monitoring", "registry", "batch")
# Each make target those pages show -> the test file that runs it for real, and the text of
# that run in it (so deleting the run fails here too).
RUN_BY = {
    "adopt": ("test_datasets.py", 'trip.make("adopt", f"DATA={data}"'),
    "demo": ("test_end_to_end.py", 'run(["make", "demo"]'),
    "drift": ("test_end_to_end.py", '["make", "drift", "NOTIFY=1", *logs]'),
    "drift-check": ("test_end_to_end.py", 'for target in ("drift-check", '),
    "models": ("test_end_to_end.py", 'run(["make", "models"], project)'),
    "package": ("test_end_to_end.py", 'run(["make", "package"], project)'),
    "promote": ("test_end_to_end.py", 'run(["make", "promote", "VERSION=v1", "YES=1"]'),
    "pull": ("test_remote.py", 'run(["make", "pull"]'),
    "push": ("test_remote.py", 'run(["make", "push"]'),
    "register": ("test_end_to_end.py", 'run(["make", "register"], project)'),
    "retrain": ("test_end_to_end.py", '["make", "retrain", "COMMIT=1", "NOTIFY=1"]'),
    "retrain-check": ("test_end_to_end.py", 'make_without_terminal(project, "retrain-check")'),
    "rollback": ("test_end_to_end.py", '["make", "rollback", "YES=1", "REASON=e2e check"]'),
    "score": ("test_end_to_end.py", '"make", "score", f"INPUT={source}"'),
    "score-check": ("test_end_to_end.py", 'make_without_terminal(project, "score-check"'),
    "scores": ("test_end_to_end.py", '["make", "scores", f"LABELS={labels}", *logs]'),
    "scores-check": ("test_end_to_end.py", 'f"scores-check LABELS={labels}"'),
    "train": ("test_end_to_end.py", 'run(["make", "train"], project)'),
}
# Shown on those pages, but not for an operator: installs Chromium with apt for the
# dashboard's browser test (root and the network; it only prints advice without them).
NOT_RUN = {"browser"}
MAKE_COMMAND = re.compile(r"(?:^|[\s;&|(])make ([a-z][\w-]*)", re.MULTILINE)


def shown_make_targets(markdown: str) -> set[str]:
    """The make targets a page shows as commands: in code blocks and inline code."""
    code = FENCE.findall(markdown) + re.findall(r"`([^`\n]+)`", FENCE.sub("", markdown))
    return {target for text in code for target in MAKE_COMMAND.findall(text)}


def test_every_make_command_of_the_operations_pages_is_run_by_a_test(
    default_project: Path,
) -> None:
    shown = set().union(
        *(
            shown_make_targets((default_project / f"docs/{page}.md").read_text("utf-8"))
            for page in OPERATIONS_PAGES
        )
    )
    assert shown - NOT_RUN == set(RUN_BY)
    tests = Path(__file__).parent
    missing = {
        target: file
        for target, (file, run) in RUN_BY.items()
        if run not in (tests / file).read_text(encoding="utf-8")
    }
    assert missing == {}


def test_operations_pages_open_with_what_a_person_does_and_sees() -> None:
    """Verdict first: each page's "In short" names its commands before any detail."""
    pages = TEMPLATE / "{{cookiecutter.project_slug}}" / "docs"
    for page, commands in {
        "monitoring": ("make drift", "make scores", "make drift-check", "NOTIFY=1"),
        "registry": ("make register", "make promote", "make rollback", "make retrain"),
        "batch": ("make score", "make score-check"),
    }.items():
        short = (pages / f"{page}.md").read_text("utf-8").split("\n\n## ", 1)[0]
        assert all(command in short for command in commands), page
