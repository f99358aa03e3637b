"""Every combination of the optional answers bakes the exact tree and lints clean.

One bake per combination into a module-scoped folder, then each linter runs once over all
of them. The fast tier bakes a covering set (every pair of answers of any two options
meets in some bake: 14 bakes); the full product of the answers (144 bakes, about a
minute on two cores) is in the slow tier, which CI runs.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import yaml
from helpers import TEMPLATE, TOOLS, bake, expected_tree, parse_structured_files, project_files

CHOICES = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
OPTIONS = ("python_version", "ci", "docker", "dvc_remote", "license")
# deploy meets every answer of the other options without doubling the matrix: it follows the
# parity of the other answers' indexes, so each fixed answer still sees both deploy values.
PAIRED = "deploy"
# Every workflow a bake with ci=github holds: each passes actionlint, calls existing targets.
WORKFLOWS = ("ci.yml", "retrain.yml")
COMBINATIONS = [
    {
        **dict(zip(OPTIONS, values, strict=True)),
        PAIRED: CHOICES[PAIRED][sum(indexes) % len(CHOICES[PAIRED])],
    }
    for indexes, values in zip(
        itertools.product(*(range(len(CHOICES[name])) for name in OPTIONS)),
        itertools.product(*(CHOICES[name] for name in OPTIONS)),
        strict=True,
    )
]


def label(answers: dict[str, str]) -> str:
    return "-".join(answers[name] for name in (*OPTIONS, PAIRED))


def answer_pairs(answers: dict[str, str]) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    """The (option, answer) pairs of two different options that one bake brings together."""
    return set(itertools.combinations(sorted(answers.items()), 2))


def covering_set(candidates: list[dict[str, str]]) -> list[dict[str, str]]:
    """Few combinations in which every pair of answers of any two options meets: greedily
    the candidate that brings the most pairs not met yet (first in order on a tie)."""
    missing = set().union(*(answer_pairs(answers) for answers in candidates))
    chosen = []
    while missing:
        best = max(candidates, key=lambda answers: len(answer_pairs(answers) & missing))
        chosen.append(best)
        missing -= answer_pairs(best)
    return chosen


# Every option, deploy included, as a free factor: deploy meets each answer of the others.
PAIRS = covering_set(
    [
        dict(zip((*OPTIONS, PAIRED), values, strict=True))
        for values in itertools.product(*(CHOICES[name] for name in (*OPTIONS, PAIRED)))
    ]
)


@pytest.fixture(
    scope="module",
    params=[pytest.param("pairs"), pytest.param("all", marks=pytest.mark.slow)],
)
def bakes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[dict[str, str], Path]]:
    """Each combination of the set baked once: label -> (answers, project folder)."""
    root = tmp_path_factory.mktemp(f"matrix-{request.param}")
    combinations = PAIRS if request.param == "pairs" else COMBINATIONS
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        futures = {
            label(answers): (answers, pool.submit(bake_one, root / label(answers), answers))
            for answers in combinations
        }
        return {name: (answers, future.result()) for name, (answers, future) in futures.items()}


def bake_one(folder: Path, answers: dict[str, str]) -> Path:
    """Bake in a worker process (cookiecutter changes the working directory)."""
    return bake(folder, **answers)


def tool(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a linter installed beside the test interpreter; fail with its output."""
    result = subprocess.run(
        [str(TOOLS / command[0]), *command[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return result


def test_the_matrix_covers_every_answer() -> None:
    assert len(COMBINATIONS) == 3 * 2 * 2 * 3 * 4
    for name in (*OPTIONS, PAIRED):
        assert {answers[name] for answers in COMBINATIONS} == set(CHOICES[name])
    for name in OPTIONS:  # every answer meets both deploy answers
        for value in CHOICES[name]:
            met = {answers[PAIRED] for answers in COMBINATIONS if answers[name] == value}
            assert met == set(CHOICES[PAIRED]), (name, value)


def test_the_covering_set_brings_every_two_answers_together() -> None:
    every = set().union(
        *(
            answer_pairs(dict(zip((*OPTIONS, PAIRED), values, strict=True)))
            for values in itertools.product(*(CHOICES[name] for name in (*OPTIONS, PAIRED)))
        )
    )
    assert set().union(*(answer_pairs(answers) for answers in PAIRS)) == every
    assert len(PAIRS) < len(COMBINATIONS) / 5


def test_every_combination_has_the_exact_tree(bakes: dict) -> None:
    for name, (answers, project) in bakes.items():
        expected = expected_tree(
            license_file=answers["license"] != "Proprietary",
            ci=answers["ci"] == "github",
            docker=answers["docker"] == "yes",
            s3=answers["dvc_remote"] == "s3",
            kubernetes=answers["deploy"] == "kubernetes",
        )
        assert project_files(project) == expected, name


def test_the_kubernetes_manifests_follow_only_the_dvc_remote_among_the_answers(
    bakes: dict,
) -> None:
    """They depend on the project's names and, for the retrain CronJob only, on dvc_remote
    (the ConfigMap holds params.yaml, whose comments follow the answers, so it must equal
    the bake's own): tests/test_kubernetes.py validates them for each dvc_remote."""
    distinct: dict[str, set] = {remote: set() for remote in CHOICES["dvc_remote"]}
    for answers, project in bakes.values():
        if answers["deploy"] != "kubernetes":
            continue
        manifests = sorted((project / "deploy").rglob("*.yaml"))
        distinct[answers["dvc_remote"]].add(
            tuple(
                (path.name, path.read_bytes())
                for path in manifests
                if path.name != "configmap.yaml"
            )
        )
        configmap = yaml.safe_load((project / "deploy/kubernetes/configmap.yaml").read_text())
        params = (project / "params.yaml").read_text(encoding="utf-8")
        assert configmap["data"]["params.yaml"] == params
    assert all(len(files) == 1 for files in distinct.values()), distinct.keys()
    differ = {
        name
        for (first,), (second,) in itertools.combinations(distinct.values(), 2)
        for (name, text), (_, other) in zip(first, second, strict=True)
        if text != other
    }
    assert differ == {"cronjob-retrain.yaml"}


def test_every_combination_parses(bakes: dict) -> None:
    for _, project in bakes.values():
        parse_structured_files(project)


def test_every_combination_is_lint_clean(bakes: dict) -> None:
    folders = sorted({str(project.parent) for _, project in bakes.values()})
    tool("ruff", "check", *folders)
    tool("ruff", "format", "--check", *folders)


# A waived bandit finding names the check and says why: `# nosec B301: a private pipe ...`.
NOSEC = re.compile(r"#\s*nosec\b(.*)$")
WAIVER = re.compile(r"^ B\d{3}(, B\d{3})*: \w.{9,}$")


def test_bandit_finds_nothing_medium_or_high_and_every_waiver_says_why(bakes: dict) -> None:
    # The Python files do not depend on the answers (only the names in them do): one bake.
    _, project = next(iter(bakes.values()))
    command = ["--quiet", "--recursive", "--severity-level", "medium", "--format", "json"]
    result = subprocess.run(
        [str(TOOLS / "bandit"), *command, str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    findings = [
        f"{item['filename']}:{item['line_number']}: {item['test_id']} {item['issue_text']}"
        for item in report["results"]
    ]
    assert not findings, "\n".join(findings)
    assert not report["errors"], report["errors"]
    unexplained = [
        f"{path}:{number}: {line.strip()}"
        for path in sorted(project.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if (match := NOSEC.search(line)) and not WAIVER.match(match.group(1))
    ]
    assert not unexplained, "waive a finding as `# nosec B123: why`:\n" + "\n".join(unexplained)


def test_answers_reach_the_files_that_depend_on_them(bakes: dict) -> None:
    for name, (answers, project) in bakes.items():
        version = answers["python_version"]
        pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
        assert f'requires-python = ">={version}"' in pyproject, name
        if answers["docker"] == "yes":
            dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
            assert f"ARG PYTHON_VERSION={version}\n" in dockerfile, name
        if answers["ci"] == "github":
            for workflow_name in WORKFLOWS:
                workflow = yaml.safe_load(
                    (project / ".github/workflows" / workflow_name).read_text(encoding="utf-8")
                )
                assert workflow["env"]["PYTHON_VERSION"] == version, (name, workflow_name)
        hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
        ids = {hook["id"] for repo in hooks["repos"] for hook in repo["hooks"]}
        assert ("dvc-pre-push" in ids) == (answers["dvc_remote"] != "none"), name


def test_workflows_pass_actionlint(bakes: dict) -> None:
    # One run per distinct workflow text (the 144 bakes hold only a handful of variants).
    distinct: dict[str, Path] = {}
    for answers, project in bakes.values():
        if answers["ci"] == "github":
            for path in sorted((project / ".github/workflows").glob("*.yml")):
                distinct.setdefault(path.read_text(encoding="utf-8"), path)
    assert len(distinct) >= 3 * len(WORKFLOWS)  # one per python_version at least
    for path in distinct.values():
        tool("actionlint", "-no-color", path.name, cwd=path.parent)


def test_workflows_call_only_existing_make_targets(bakes: dict) -> None:
    for name, (answers, project) in bakes.items():
        if answers["ci"] != "github":
            continue
        makefile = (project / "Makefile").read_text(encoding="utf-8")
        targets = set(re.findall(r"^([a-zA-Z][\w-]*):", makefile, flags=re.MULTILINE))
        folder = project / ".github/workflows"
        assert sorted(path.name for path in folder.glob("*.yml")) == sorted(WORKFLOWS), name
        for workflow_name in WORKFLOWS:
            workflow = yaml.safe_load((folder / workflow_name).read_text("utf-8"))
            called = {
                target
                for job in workflow["jobs"].values()
                for step in job["steps"]
                for target in re.findall(r"\bmake\s+([a-zA-Z][\w-]*)", step.get("run", ""))
            }
            assert called, f"{name}: {workflow_name}"
            assert called <= targets, f"{name}: {workflow_name} calls missing {called - targets}"


def test_retrain_workflow_is_scheduled_registers_and_publishes_the_report(bakes: dict) -> None:
    for name, (answers, project) in bakes.items():
        if answers["ci"] != "github":
            continue
        workflow = yaml.safe_load(
            (project / ".github/workflows/retrain.yml").read_text(encoding="utf-8")
        )
        triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
        assert triggers["schedule"][0]["cron"].split()[4] != "*", name  # weekly, not daily
        assert "workflow_dispatch" in triggers, name
        assert workflow["permissions"] == {"contents": "read"}, name
        (job,) = workflow["jobs"].values()
        assert job["permissions"] == {"contents": "write"}, name
        assert job["steps"][0]["with"]["fetch-depth"] == 0, name
        runs = [step.get("run", "") for step in job["steps"]]
        assert "make retrain-check COMMIT=1" in runs, name
        params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
        markdown = params["paths"]["retrain_report"]
        summary = next(run for run in runs if "GITHUB_STEP_SUMMARY" in run)
        assert f"cat {markdown} >>" in summary, name
        uploaded = next(step for step in job["steps"] if "upload-artifact" in step.get("uses", ""))
        assert {markdown, params["paths"]["retrain_report_html"]} <= set(
            uploaded["with"]["path"].split()
        ), name
        # Data before the tag, and nothing is pushed after a failed or worse retrain.
        push_data, push_tag = (
            runs.index("make push"),
            runs.index("git push --no-verify origin --tags"),
        )
        assert runs.index("make retrain-check COMMIT=1") < push_data < push_tag, name
        assert "if" not in job["steps"][push_data], name
        assert "if" not in job["steps"][push_tag], name


def test_dockerfiles_pass_hadolint(bakes: dict) -> None:
    dockerfiles = sorted(
        {
            project / "Dockerfile"
            for answers, project in bakes.values()
            if answers["docker"] == "yes" and answers["license"] == "MIT"
        }
    )
    assert dockerfiles
    for dockerfile in dockerfiles:
        tool("hadolint", "--no-color", str(dockerfile))
