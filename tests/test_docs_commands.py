"""Every shell command in README.md and docs/*.md works as typed.

Each fenced ``bash``/``sh``/``console``/``shell`` block is split into commands with bash's quoting
rules (``shlex``, after joining ``\\`` continuations and expanding the block's own variables);
then every command is checked by what it is:

- ``trajmbrl ...``: the overrides parse with Hydra's grammar and compose, and the CLI's own
  validation passes (``dry_run=true``: the mode checks the whole config and stops; a ``-m``
  sweep is checked value by value);
- ``make <target> [VAR=value]``: the target and the variables exist in the Makefile;
- ``python -m <module>`` / ``python <script>`` / ``scripts/...`` / ``cp <file> ...``: the
  module, script or file exists;
- anything else must be a known external tool (:data:`EXTERNAL`).

Inline code spans that are one ``key=value`` override (e.g. ``plot.rows=[t,'d (closed loop)']``)
must parse with Hydra's grammar after bash's quote removal. A ``...`` token stands for "your other
overrides" and is dropped. The slow test runs the cheap documented commands (smoke scale, the
example logs) for real in a temporary root.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from conftest import compose_cfg
from trajmbrl.envs import spec
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes import MODES

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = ("bash", "sh", "console", "shell")

#: programs the docs may name that are not part of this repository
EXTERNAL = {
    "cd", "set", "export", "eval", ".", "source", "tmux", "screen", "squeue", "sbatch", "scancel",
    "scontrol", "sinfo", "sacct", "tail", "tee", "grep", "pip", "git", "cat", "ls", "nproc",
}  # fmt: skip

#: flags of the trajmbrl CLI (Hydra's) -> how many arguments each takes
FLAGS = {"-m": 0, "--multirun": 0, "--cfg": 1, "-c": 1, "-p": 1, "--package": 1, "--resolve": 0,
         "--info": 0, "--help": 0, "-h": 0, "--hydra-help": 0}  # fmt: skip

OPERATORS = {"&&", "||", ";", "|", "&"}
REDIRECTIONS = {">", ">>", "<", ">&", "<&", "2>", "2>&1"}


@dataclass
class Command:
    """One simple command of a docs block: its words and where it comes from."""

    words: list[str]
    doc: str
    line: int

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {shlex.join(self.words)}"


def shell_blocks(path: Path) -> list[tuple[int, str]]:
    """(first line number, body) of every fenced shell block of ``path``."""
    text = path.read_text()
    found = []
    for m in re.finditer(r"^```(\w*)[^\n]*\n(.*?)^```", text, flags=re.S | re.M):
        if m.group(1) in SHELL_LANGUAGES:
            found.append((text.count("\n", 0, m.start(2)) + 1, m.group(2)))
    return found


def expand(text: str, env: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced from ``env`` (an unknown name is an error)."""

    def value(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in env:
            raise AssertionError(f"docs use ${name}, which the block does not set")
        return env[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)


def split_commands(text: str) -> list[list[str]]:
    """The simple commands of one shell line (bash quoting; operators and redirections cut)."""
    text = re.sub(r"(?<![\w=])\d+(?=[<>])", " ", text)  # 2>&1: the descriptor goes with the >
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    skip = False
    for token in lexer:
        if token in OPERATORS:
            commands.append([])
        elif token in REDIRECTIONS or token.endswith(">"):
            skip = True  # the redirection's target follows
        elif skip:
            skip = False
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def doc_commands(path: Path, env: dict[str, str]) -> list[Command]:
    """Every simple command of ``path``'s shell blocks; assignments update ``env`` (in place)."""
    out = []
    for start, body in shell_blocks(path):
        logical, first = "", start
        for offset, raw in enumerate(body.splitlines()):
            if not logical:
                first, raw = start + offset, raw.removeprefix("$ ")
            if raw.endswith("\\"):  # a continuation: the command goes on
                logical += raw[:-1] + " "
                continue
            logical, line = "", logical + raw
            for words in split_commands(expand(line, env)):
                assignment = re.fullmatch(r"(\w+)=(.*)", words[-1])
                if assignment and (words[0] == "export" or len(words) == 1):
                    env[assignment.group(1)] = assignment.group(2)
                    if words[0] != "export":
                        continue
                out.append(Command(words, path.name, first))
    return out


def makefile() -> tuple[set[str], set[str]]:
    """(targets, variables) the Makefile defines."""
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z0-9_-]+):(?!=)", text, flags=re.M))
    variables = set(re.findall(r"^([A-Z0-9_]+)\s*[?:]?=", text, flags=re.M))
    return targets, variables


def trajmbrl_runs(words: list[str], every_value: bool = True) -> list[list[str]]:
    """The override lists one ``trajmbrl`` command composes: its flags dropped, a ``-m`` sweep
    expanded one swept key at a time (the others at their first value; only the first run
    unless ``every_value``). Every value is parsed with Hydra's grammar either way."""
    args, multirun, i = [], False, 0
    while i < len(words):
        word = words[i]
        if word in FLAGS:
            multirun |= word in ("-m", "--multirun")
            i += 1 + FLAGS[word]
            continue
        assert not word.startswith("-"), f"unknown trajmbrl flag {word}"
        if word != "...":
            args.append(word)
        i += 1
    overrides = OverridesParser.create().parse_overrides(args)  # bash-quoted as Hydra wants
    if not multirun:
        return [args]
    swept = {
        n: [f"{o.input_line.split('=', 1)[0]}={v}" for v in o.sweep_string_iterator()]
        for n, o in enumerate(overrides)
        if o.is_sweep_override()
    }
    first = [swept[n][0] if n in swept else a for n, a in enumerate(args)]
    runs = [first]
    for n, values in swept.items() if every_value else ():
        runs += [[*first[:n], v, *first[n + 1 :]] for v in values[1:]]
    return runs


def check_trajmbrl(command: Command, root: Path, every_value: bool) -> None:
    """Compose and validate the runs of ``command`` through the modes (dry run)."""
    for args in trajmbrl_runs(command.words[1:], every_value):
        cfg = compose_cfg(*args, f"paths.root={root}", "dry_run=true")
        MODES[cfg.mode.name](cfg)


def check_other(command: Command, env: dict[str, str]) -> None:
    """A command that is not ``trajmbrl``: what it names must exist."""
    program, args = command.words[0], command.words[1:]
    targets, variables = makefile()
    if program == "make":
        for arg in args:
            if "=" in arg:
                assert arg.split("=")[0] in variables, f"{command}: no Makefile variable {arg}"
            else:
                assert arg in targets, f"{command}: no Makefile target {arg!r}"
    elif program in ("python", "python3"):
        if args[:1] == ["-m"]:
            assert importlib.util.find_spec(args[1]), f"{command}: no module {args[1]}"
        else:
            assert (ROOT / args[0]).is_file(), f"{command}: no script {args[0]}"
    elif "/" in program:
        assert (ROOT / program).is_file() and os.access(ROOT / program, os.X_OK), command
    elif program == "cp":
        assert (ROOT / args[0]).is_file(), f"{command}: no file {args[0]}"
    else:
        assert program in EXTERNAL, f"{command}: unknown program {program!r} (add to EXTERNAL?)"
    for arg in args:  # commands inside: eval "$(...)", tmux new '...'
        inner = re.fullmatch(r"\$\((.*)\)", arg)
        nested = inner.group(1) if inner else arg if program == "tmux" and " " in arg else None
        for words in split_commands(nested or ""):
            sub = Command(words, command.doc, command.line)
            if words[0] == "trajmbrl":
                trajmbrl_runs(words[1:])
            else:
                check_other(sub, env)


@pytest.fixture
def docs_env(tmp_path, monkeypatch):
    """The variables a reader's shell has, in a work dir holding what the pages ask the reader to
    create (docs/new-system.md's module and YAML); the modules the page adds are forgotten after."""
    from test_new_system import doc_block

    (tmp_path / "my_robots").mkdir()
    (tmp_path / "my_robots" / "__init__.py").write_text("")
    (tmp_path / "my_robots" / "point.py").write_text(doc_block("python"))
    (tmp_path / "my_conf" / "envs").mkdir(parents=True)
    (tmp_path / "my_conf" / "envs" / "point.yaml").write_text(doc_block("yaml"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(ROOT)  # relative paths in the docs are from the checkout
    yield {"PWD": str(tmp_path), "USER": "user", "SLURM_SUBMIT_DIR": str(ROOT)}
    for name in [m for m in sys.modules if m.split(".")[0] == "my_robots"]:
        del sys.modules[name]
    spec._REGISTRY.pop("point", None)


def all_commands(env: dict[str, str]) -> list[Command]:
    return [c for doc in DOCS for c in doc_commands(doc, dict(env))]


def check_all(env: dict[str, str], root: Path, every_value: bool) -> None:
    """Check every documented command (each distinct ``trajmbrl`` command once); one assertion
    listing every broken command."""
    commands, seen = all_commands(env), set()
    assert sum(c.words[0] == "trajmbrl" for c in commands) >= 25, len(commands)
    failures = []
    for command in commands:
        if tuple(command.words) in seen:
            continue
        seen.add(tuple(command.words))
        try:
            if command.words[0] == "trajmbrl":
                check_trajmbrl(command, root, every_value)
            else:
                check_other(command, env)
        except Exception as exc:  # report every broken command at once
            failures.append(f"{command}\n    {type(exc).__name__}: {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)
    assert not root.exists()  # a dry run reads and writes nothing


def test_every_documented_shell_command_is_valid_as_typed(docs_env, tmp_path, capsys):
    """Each distinct command once (a sweep at its first values; every value is parsed)."""
    check_all(docs_env, tmp_path / "root", every_value=False)
    assert "dry run: config valid" in capsys.readouterr().out


@pytest.mark.slow
def test_every_value_of_every_documented_sweep_is_valid(docs_env, tmp_path):
    check_all(docs_env, tmp_path / "root", every_value=True)


def inline_overrides() -> list[tuple[str, str]]:
    """(doc, span) for every inline code span that is a single quoted ``key=value`` override."""
    found = []
    for doc in DOCS:
        text = re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.S | re.M)
        for span in re.findall(r"`([^`\n]+)`", text):
            if re.search(r"<|\.\.\.|\|", span) or not any(q in span for q in "'\"[{"):
                continue
            try:
                words = shlex.split(span)
            except ValueError as exc:  # unbalanced quotes
                words = [f"{span} ({exc})"]
            if len(words) == 1 and re.match(r"[a-z_+~][\w.+/]*=", words[0]):
                found.append((doc.name, words[0]))
    return found


def test_inline_overrides_parse_as_typed_in_bash():
    spans = inline_overrides()
    assert any(s.startswith("plot.rows=") for _, s in spans)
    parser = OverridesParser.create()
    bad = []
    for doc, span in spans:
        try:
            parser.parse_overrides([span])
        except Exception as exc:
            bad.append(f"{doc}: `{span}`: {str(exc).splitlines()[0]}")
    assert not bad, "\n".join(bad)


def test_the_checker_catches_what_bash_breaks():
    (words,) = split_commands("trajmbrl mode=plot plot.rows=[t,'d (closed loop)']")
    assert words[-1] == "plot.rows=[t,d (closed loop)]"  # bash removed the quotes
    with pytest.raises(Exception, match="Error parsing override"):
        trajmbrl_runs(words[1:])
    ok = split_commands("""trajmbrl mode=plot 'plot.rows=[t,"d (closed loop)"]' && make x""")
    assert trajmbrl_runs(ok[0][1:]) == [["mode=plot", 'plot.rows=[t,"d (closed loop)"]']]
    assert ok[1] == ["make", "x"]
    runs = trajmbrl_runs(["-m", "mode=train", "models=d,t", "seed=0,1", "..."])
    assert runs == [["mode=train", "models=d", "seed=0"], ["mode=train", "models=t", "seed=0"],
                    ["mode=train", "models=d", "seed=1"]]  # fmt: skip
    with pytest.raises(AssertionError, match="no Makefile target"):
        check_other(Command(["make", "no-such-target"], "x.md", 1), {})
    with pytest.raises(AssertionError, match="unknown program"):
        check_other(Command(["frobnicate"], "x.md", 1), {})
    with pytest.raises(AssertionError, match=r"\$NOPE"):
        expand("echo $NOPE", {})


def test_a_dry_run_checks_the_config_and_stops(tmp_path, capsys):
    """In process, as the CLI runs a mode (the CLI's printing of errors: test_cli)."""
    root = (f"paths.root={tmp_path}", "dry_run=true")
    MODES["eval"](compose_cfg("mode=eval", "models=[d,t]", *root))
    out = capsys.readouterr().out
    assert out.startswith("dry run: config valid; mode=eval (trajmbrl.modes.evaluate)")
    assert "models=[d,t]" in out and str(tmp_path / "trajectories" / "cartpole") in out
    cfg = compose_cfg("mode=train", "train.patience=0", *root)
    with pytest.raises(TrajmbrlError, match="train.patience must be an integer >= 1, got 0"):
        MODES["train"](cfg)
    assert list(tmp_path.iterdir()) == []  # nothing read or written


#: documented commands cheap enough to run for real (seconds each): smoke scale, example logs
def cheap(command: Command) -> bool:
    words = command.words
    return (
        words[0] == "trajmbrl"
        and "hydra/launcher=slurm" not in words
        and ("experiment=smoke" in words or "envs=logs" in words)
    )


@pytest.mark.slow
def test_the_cheap_documented_commands_run(docs_env, tmp_path):
    commands = [c for c in all_commands(docs_env) if cheap(c)]
    assert len(commands) >= 5
    env = {**os.environ, "TRAJMBRL_ROOT": str(tmp_path)}
    root = f"paths.root={tmp_path}"  # wins over a documented paths.root
    for command in commands:
        run = subprocess.run(
            [sys.executable, "-m", "trajmbrl", *command.words[1:], "model.epochs=2", root],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
        )
        assert run.returncode == 0, f"{command}\n{run.stderr[-2000:]}"
    assert list((tmp_path / "outputs").glob("*/logs/*/figures/*.png"))


def test_every_make_target_the_docs_name_inline_exists():
    targets, variables = makefile()
    named = []
    for doc in DOCS:
        for span in re.findall(r"`make ([^`\n]+)`", doc.read_text()):
            for word in shlex.split(span):
                if "=" in word:
                    key = word.split("=")[0]
                    if not key.startswith("$"):
                        named.append((doc.name, key, key in variables))
                elif not word.startswith("<"):
                    named.append((doc.name, word, word in targets))
    assert len(named) >= 10
    assert all(ok for *_, ok in named), [n for n in named if not n[2]]
