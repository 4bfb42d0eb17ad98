"""The README's command synopses against what `publish <command> --help` says: every option
shown exists (with the same choices), every option of a command is shown, and the
positional arguments are shown as the command takes them (required bare, optional in
brackets)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from publisher.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"
OPTION = re.compile(r"^-{1,2}[a-z][\w-]*$")
POSITIONAL = re.compile(r"^[A-Z][A-Z_]*$")


@dataclass
class Shown:
    """An option as a synopsis shows it."""

    value: str | None  # the value's placeholder (``off|cache|force``, ``N``), if any
    required: bool  # shown outside brackets


@dataclass
class Synopsis:
    """What one `publish …` entry of the README shows."""

    command: tuple[str, ...]
    positionals: list[tuple[str, bool]] = field(default_factory=list)  # (NAME, required)
    options: dict[str, Shown] = field(default_factory=dict)


@dataclass
class Declared:
    """An option line of `--help`: its names (``-j, --jobs``; ``--network / --no-network``)."""

    names: list[str]
    choices: list[str] | None
    required: bool


@dataclass
class Help:
    """What `publish <command> --help` says."""

    positionals: list[tuple[str, bool]]
    options: list[Declared]

    def declared(self, name: str) -> Declared | None:
        return next((d for d in self.options if name in d.names), None)


def cli_block() -> list[str]:
    """The entries of the code block under "## The CLI", continuation lines joined,
    comments dropped."""
    text = README.read_text()
    section = text.split("\n## The CLI\n", 1)[1]
    block = section.split("```\n", 2)[1]
    entries: list[str] = []
    for line in block.splitlines():
        shown = re.split(r"\s#\s", " " + line, maxsplit=1)[0].strip()
        if line.startswith("publish "):
            entries.append(shown)
        elif shown:
            entries[-1] += " " + shown
    return entries


def parse(entry: str) -> Synopsis:
    words = entry.split()[1:]
    command: list[str] = []
    level: click.Command = main  # the group the next word may name a command of
    while words and isinstance(level, click.Group) and words[0] in level.commands:
        command.append(words.pop(0))
        level = level.commands[command[-1]]
    synopsis = Synopsis(tuple(command))
    # in order: a bracketed group (optional) or a bare word (required); a word after an
    # option is that option's value
    option: str | None = None
    for group in re.findall(r"\[[^\]]*\]|[^\s\[]+", " ".join(words)):
        is_required = not group.startswith("[")
        if not is_required:
            option = None
        for token in group.strip("[]").split():
            if OPTION.match(token):
                option = token
                synopsis.options[token] = Shown(None, is_required)
            elif option is not None:
                synopsis.options[option].value = token
                option = None
            elif POSITIONAL.match(token):
                synopsis.positionals.append((token, is_required))
    return synopsis


def help_of(command: tuple[str, ...]) -> Help:
    result = CliRunner().invoke(main, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    usage = result.output.splitlines()[0]
    args = usage.split("[OPTIONS]", 1)[1].split() if "[OPTIONS]" in usage else []
    positionals = [(a.strip("[]").rstrip("."), not a.startswith("[")) for a in args]
    options: list[Declared] = []
    listing = result.output.split("\nOptions:\n", 1)[1]
    for line in listing.splitlines():
        if not line.startswith("  -"):
            continue
        declaration = re.split(r"\s{2,}", line.strip())[0]
        names = re.findall(r"(?<![\w-])-{1,2}[a-z][\w-]*", declaration)
        if "--help" in names:
            continue
        choices = re.search(r"\[([\w|-]+)\]", declaration)
        options.append(Declared(names, choices.group(1).split("|") if choices else None,
                                "[required]" in line))
    return Help(positionals, options)


ENTRIES = cli_block()


def test_the_cli_block_lists_the_commands() -> None:
    commands = {parse(e).command for e in ENTRIES}
    assert {("build",), ("serve",), ("launcher",), ("env", "show"), ("deploy", "dir")} <= commands


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: " ".join(parse(e).command))
def test_a_synopsis_matches_the_commands_help(entry: str) -> None:
    shown = parse(entry)
    real = help_of(shown.command)
    assert shown.positionals == real.positionals, "positional arguments and whether required"
    unknown = [name for name in shown.options if real.declared(name) is None]
    assert not unknown, f"shown but not in --help: {unknown}"
    missing = [d.names for d in real.options if not set(d.names) & set(shown.options)]
    assert not missing, f"in --help but not shown: {missing}"
    for name, option in shown.options.items():
        declared = real.declared(name)
        assert declared is not None
        assert option.required == declared.required, f"{name}: required is shown bare"
        if declared.choices is not None and option.value and "|" in option.value:
            assert option.value.split("|") == declared.choices, name


def commands_in_code_blocks() -> list[str]:
    """Every `publish …` command line of the README's code blocks (``\\`` continuations
    joined, comments dropped)."""
    blocks = README.read_text().split("```")[1::2]
    found: list[str] = []
    for block in blocks:
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            shown = re.split(r"\s#\s", " " + line, maxsplit=1)[0].strip()
            if shown.startswith("publish "):
                found.append(shown)
    return found


@pytest.mark.parametrize("line", commands_in_code_blocks())
def test_every_option_in_a_readme_example_exists(line: str) -> None:
    shown = parse(line)
    real = help_of(shown.command)
    unknown = [name for name in shown.options if real.declared(name) is None]
    assert not unknown, f"{line}: not in --help: {unknown}"
