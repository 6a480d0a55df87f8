"""Every command README.md and docs/ show still works, so the documentation cannot drift.

Commands are taken from the Markdown itself: ``$ `` lines of fenced blocks (with their ``\\``
continuations and the output shown under them), the lines of ``sh`` blocks, usage lines of plain
blocks, and inline code that starts with ``make``, ``python -m``, ``curl`` or ``docker``. The
cheap ones run for real: the ``curl`` sessions (README, docs/api.md) against a real service (their
answers must have the events, fields and cache outcomes shown), ``make help`` and
``python -m loadtests --help``. The expensive ones (a load run, a soak, the Docker stack, a
real upstream) are checked as far as can be without running them: the make target exists, the
module runs ``--help``, every ``--flag`` shown is one that command has, and the load runner's
and gate's arguments parse with the real parsers.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from loadtests.__main__ import COMMANDS
from loadtests.gate import build_parser as gate_parser
from loadtests.processes import ManagedProcess, start_service
from loadtests.runner.config import parse_args as run_args
from loadtests.workload import PACK_FILE
from service.sse import iter_events
from tests.support import service_env

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCUMENTED_HOST = "http://127.0.0.1:8000"
_FENCE = re.compile(r"^```(\w*)\s*$")
_INLINE = re.compile(r"`((?:make|python -m|curl|docker) [^`]+)`")
_FLAG = re.compile(r"(?<![\w=/-])--[a-z][a-z0-9-]*")
_PLACEHOLDER = re.compile(r"…|<[^>]+>|\[|\$\(|\bRUN_DIR\b|\bURL\b|\bDIR\b|\bFILE\b")
_LOAD_VARIABLES = {"LOAD_ARGS": "run", "SOAK_ARGS": "soak", "GATE_ARGS": "gate"}


@dataclass
class Command:
    """One command as a reader sees it, where it is, and the output shown under it."""

    where: str
    text: str
    shown: list[str] = field(default_factory=list)


def _join(lines: list[str]) -> Iterator[tuple[int, str]]:
    """Lines with ``\\`` continuations joined, and the index of each joined line's end."""
    buffer = ""
    for i, line in enumerate(lines):
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        yield i, buffer + line
        buffer = ""


def _fenced(path: Path) -> Iterator[Command]:
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        lang, start = match.group(1), i + 1
        end = next(j for j in range(start, len(lines)) if lines[j].startswith("```"))
        block = lines[start:end]
        current: Command | None = None
        for offset, line in _join(block):
            where = f"{path.name}:{start + offset + 1}"
            if line.startswith("$ "):
                current = Command(where, line[2:].strip())
                yield current
            elif current is not None and line.strip():
                current.shown.append(line)
            elif lang in ("sh", "bash", "") and line.strip().startswith(("make ", "python -m ")):
                yield Command(where, line.strip())
        i = end + 1


def _inline(path: Path) -> Iterator[Command]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    for match in _INLINE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        yield Command(f"{path.name}:{line} (inline)", " ".join(match.group(1).split()))


def _commands() -> list[Command]:
    return [c for path in DOCS for c in (*_fenced(path), *_inline(path))]


COMMANDS_SHOWN = _commands()
CURL = [c for c in COMMANDS_SHOWN if c.text.startswith("curl ") and DOCUMENTED_HOST in c.text]
OTHERS = [c for c in COMMANDS_SHOWN if c not in CURL]


def _words(command: str) -> list[str]:
    """The command's words, comments and leading environment assignments dropped."""
    words = shlex.split(command.replace("…", "..."), comments=True)
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        words.pop(0)
    return words


@functools.cache
def _help(*command: str) -> str:
    result = subprocess.run([sys.executable, "-m", *command, "--help"], capture_output=True,
                            text=True, timeout=60, cwd=ROOT, check=False)
    assert result.returncode == 0, f"python -m {' '.join(command)} --help: {result.stderr}"
    return result.stdout


_LOCUST_FLAGS = """
import json
from locust.argument_parser import get_parser
import loadtests.hooks  # registers chatperf's options; get_parser fires the event that adds them
parser = get_parser()
print(json.dumps([s for action in parser._actions for s in action.option_strings]))
"""


@functools.cache
def _locust_flags() -> frozenset[str]:
    """Locust's own options plus the ones chatperf's locustfile adds (in a child process:
    importing Locust monkey-patches the interpreter)."""
    result = subprocess.run([sys.executable, "-c", _LOCUST_FLAGS], capture_output=True,
                            text=True, timeout=60, cwd=ROOT, check=True)
    return frozenset(json.loads(result.stdout.splitlines()[-1]))


@functools.cache
def _make_targets() -> frozenset[str]:
    return frozenset(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))


def _check_loadtests(sub: str, args: list[str], text: str) -> None:
    """Flags exist; without placeholders, the arguments parse with the command's own parser."""
    flags = set(_FLAG.findall(" ".join(args)))
    missing = sorted(flags - set(_FLAG.findall(_help("loadtests", sub))))
    assert not missing, f"python -m loadtests {sub} has no {', '.join(missing)}"
    if _PLACEHOLDER.search(text):
        return
    if sub in ("run", "soak"):
        run_args(args, {}, soak=sub == "soak")
    elif sub == "gate":
        gate_parser().parse_args(args or ["runs"])


def _check(command: Command) -> None:
    words = _words(command.text)
    if not words or words[0] == "open":  # a browser
        return
    if words[0] == "make":
        target = words[1] if len(words) > 1 else "help"
        assert target in _make_targets(), f"no make target {target}"
        for word in words[2:]:
            name, _, value = word.partition("=")
            if name in _LOAD_VARIABLES and not value.startswith("$"):
                _check_loadtests(_LOAD_VARIABLES[name], shlex.split(value), value)
        return
    if words[0] == "docker":
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        profiles = {p for s in compose["services"].values() for p in s.get("profiles", [])}
        if "--profile" in words:
            assert words[words.index("--profile") + 1] in profiles
        return
    if words[0] == "curl":  # a fragment such as `curl -N` in prose; sessions run below
        return
    assert words[:2] == ["python", "-m"], command.text
    module, rest = words[2], words[3:]
    if module == "locust":
        missing = sorted(set(_FLAG.findall(" ".join(rest))) - _locust_flags())
        assert not missing, f"Locust with chatperf's locustfile has no {', '.join(missing)}"
        return
    if module == "loadtests" and rest and rest[0] in ("-h", "--help"):
        return
    if module == "loadtests":
        assert rest and rest[0] in COMMANDS, f"no loadtests command {rest[:1]}"
        _check_loadtests(rest[0], rest[1:], command.text)
        return
    sub = [rest[0]] if rest and re.fullmatch(r"[a-z][a-z-]*", rest[0]) else []
    flags = set(_FLAG.findall(" ".join(rest)))
    missing = sorted(flags - set(_FLAG.findall(_help(module, *sub))))
    assert not missing, f"python -m {module} {' '.join(sub)} has no {', '.join(missing)}"


def test_the_docs_show_commands() -> None:
    assert len(CURL) >= 3 and len(OTHERS) >= 20, [c.text for c in COMMANDS_SHOWN]


@pytest.mark.parametrize("command", OTHERS, ids=[f"{c.where} {c.text[:50]}" for c in OTHERS])
def test_documented_command_exists_with_its_flags(command: Command) -> None:
    _check(command)


def test_cheap_commands_run() -> None:
    make_help = subprocess.run(["make", "help"], capture_output=True, text=True, cwd=ROOT,
                               timeout=60, check=True).stdout
    assert "$(" not in make_help and "127.0.0.1:8000" in make_help
    assert set(COMMANDS) <= set(_help("loadtests").split())


def _shown_events(lines: list[str]) -> list[tuple[str, dict | None]]:
    events: list[tuple[str, dict | None]] = []
    for line in lines:
        if line.startswith("event: "):
            events.append((line[7:], None))
        elif line.startswith("data: ") and events:
            events[-1] = (events[-1][0], json.loads(line[6:]))
    return events


def _subsequence(wanted: list[str], actual: list[str]) -> bool:
    remaining = iter(actual)
    return all(name in remaining for name in wanted)



@pytest.fixture(scope="module")
def served(simulator: ManagedProcess) -> Iterator[ManagedProcess]:
    """The service as `make serve` runs it: the simulator, with its product's pack."""
    proc = start_service(service_env(simulator.url, CHAT_CACHE_PACK=str(PACK_FILE)))
    yield proc
    proc.stop(quick=True)


@pytest.mark.integration
def test_the_curl_sessions_run_against_a_real_service(served: ManagedProcess) -> None:
    chat_service = served
    for command in CURL:
        # Each page's session is its own: a tenant per page keeps one page's answers out of
        # another's cache, as each reader starts from a fresh service.
        page = command.where.split(":")[0]
        text = command.text.replace(DOCUMENTED_HOST, chat_service.url).replace(
            "curl ", f"curl -H 'X-Tenant: docs-{page}' ", 1)
        result = subprocess.run(["bash", "-c", text], capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 0, (command.where, result.stderr)
        shown = _shown_events(command.shown)
        if not shown:  # a JSON answer, shown whole
            assert json.loads(result.stdout) == json.loads(command.shown[0]), command.where
            continue
        actual = [(e.event, e.json()) for e in iter_events(result.stdout.splitlines())]
        assert _subsequence([n for n, _ in shown], [n for n, _ in actual]), command.where
        for name, data in shown:
            if data is None:
                continue
            got = next(d for n, d in actual if n == name)
            assert set(got) == set(data), (command.where, name, set(got) ^ set(data))
            if name == "meta":
                assert (got["cache"], got["tier"]) == (data["cache"], data["tier"]), \
                    command.where
