"""The README is a newcomer's page: short, its commands real, its links alive, no words meant for the
team; the version is the same everywhere and the changelog has it."""

import re
import tomllib
from pathlib import Path

import mnistlab
from mnistlab.cli import app

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_the_readme_is_short_and_says_how_to_call_mnistlab():
    assert len(README.split()) <= 3000
    for heading in ("## Two commands", "## Open the studio", "## Check your notebook", "## Use your own .pth",
                    "## The report"):
        assert heading in README
    assert ".venv/bin/mnistlab" in README and "source .venv/bin/activate" in README
    assert "Colab" in README and "Windows" in README


def test_its_commands_exist():
    makefile = (REPO / "Makefile").read_text()
    for target in set(re.findall(r"\bmake (\w+)", README)):
        assert re.search(rf"(?m)^{target}:", makefile), target
    commands = {command.name or command.callback.__name__ for command in app.registered_commands}
    code = "\n".join(re.findall(r"```bash\n(.*?)```", README, re.S))
    for command in set(re.findall(r"(?m)(?:bin/|^)mnistlab (\w+)", code)):
        assert command in commands, command
    for flag in ("--mlp", "--cnn"):
        assert flag in README


def test_its_links_are_alive_and_it_has_no_team_words():
    for link in re.findall(r"\]\(([^)#]+)\)", README):
        if not link.startswith("http"):
            assert (REPO / link).exists(), link
    for words in ("issue 1", "this round", "engineer"):
        assert words not in README.lower()
    for page in (REPO / "docs").glob("*.md"):
        assert "this round" not in page.read_text() and "other engineers" not in page.read_text(), page


def test_one_version_and_a_changelog():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert mnistlab.__version__ == version == "0.3.0"
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert [line for line in changelog.splitlines() if line.startswith("## ")][:3] == [
        "## 0.3.0 (in progress)", "## 0.2.0", "## 0.1.0"]
