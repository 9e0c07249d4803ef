"""Commands and launchers run as absl apps with their own --help and no stray arguments."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from absl import app, flags

FLAGS = flags.FLAGS
# Asking for help, as absl spells it and as most tools do. absl's own --help lists the flags of
# the main module only (none for a command: they live in its module) and points at --helpfull,
# which lists every absl and JAX flag; ours lists the program's flags and exits 0.
HELP = ("-h", "-?", "--help", "-help", "--helpshort", "-helpshort")
WIDTH, INDENT = 100, " " * 6
# absl's type names -> the placeholder of the flag's value.
PLACEHOLDERS = {
    "int": "INT",
    "float": "FLOAT",
    "string": "TEXT",
    "multi string": "TEXT",
    "comma separated list of strings": "A,B,...",
}


def flags_defined_by(define: Callable[[], None]) -> list[flags.Flag]:
    """The flags `define()` adds to FLAGS, in definition order (the command's own flags, not the
    ones its imports brought: those are defined before `define` runs)."""
    before = set(FLAGS)
    define()
    return list(dict.fromkeys(FLAGS[name] for name in FLAGS if name not in before))


def is_required(flag: flags.Flag) -> bool:
    """Whether the flag was defined with required=True (absl adds a validator refusing None)."""
    for validator in flag.validators:
        try:
            if validator.checker(None) is False:
                return True
        except Exception:  # a validator of other values may choke on None
            continue
    return False


def shown_default(flag: flags.Flag) -> str:
    """The default as one would type it, or "" when there is none."""
    value = flag.default
    if value is None or value == []:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, str) and (not value or value.strip() != value):
        return repr(value)  # quotes show empty text and leading or trailing spaces
    return str(value)


def describe(flag: flags.Flag) -> str:
    """The flag with its value's placeholder and default (or required), then its help below."""
    kind, text = flag.flag_type(), flag.help
    if kind == "bool":
        usage = f"--[no]{flag.name}"
    elif isinstance(flag.parser, flags.EnumParser):  # absl starts the help with the choices
        choices = "|".join(flag.parser.enum_values)
        usage, text = f"--{flag.name}={{{choices}}}", text.removeprefix(f"<{choices}>: ")
    else:
        usage = f"--{flag.name}={PLACEHOLDERS.get(kind, 'VALUE')}"
    notes = []
    if isinstance(flag, flags.MultiFlag):  # absl appends how to repeat it to the help
        notes, text = ["repeatable"], text.split(";\n")[0]
    if is_required(flag):
        notes.append("required")
    elif default := shown_default(flag):
        notes.append(f"default: {default}")
    if notes:
        usage += f"  ({'; '.join(notes)})"
    help_lines = textwrap.fill(text, WIDTH, initial_indent=INDENT, subsequent_indent=INDENT)
    return f"  {usage}\n{help_lines}"


def help_text(program: str, own: Sequence[flags.Flag], about: str = "", arguments: str = "") -> str:
    """Usage line, what the program does, and its flags (absl's and JAX's are not its own)."""
    lines = [f"usage: {program} [--flags]" + (f" {arguments}" if arguments else "")]
    if about.strip():
        lines += ["", about.strip()]
    lines += ["", "flags:", *map(describe, own)] if own else ["", "no flags"]
    return "\n".join(lines)


def wants_help(args: Sequence[str]) -> bool:
    """Whether the arguments ask for help (before any `--`, after which all are positional)."""
    for arg in args:
        if arg == "--":
            return False
        if arg in HELP:
            return True
    return False


def run_app(
    main: Callable[[list[str]], object],
    program: str,
    own: Sequence[flags.Flag],
    args: Sequence[str],
    about: str = "",
    arguments: str = "",
) -> None:
    """absl's app.run(main) on `program args`, exiting 0 after the help if it was asked for.

    Positional arguments are refused (exit code 2) unless `arguments` names them (e.g.
    "DESCRIPTION..."): a word meant for a flag would otherwise be dropped silently. That error,
    and an app.UsageError from main, is one line `program: message` on stderr, not absl's
    module docstring around it."""
    if wants_help(args):
        try:
            print(help_text(program, own, about, arguments), flush=True)
        except BrokenPipeError:  # `--help | head`: the reader had enough, not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)

    def strict_main(argv: list[str]) -> object:
        try:
            stray = argv[1:]
            if stray and not arguments:
                plural = "s" if len(stray) > 1 else ""
                listed = ", ".join(map(repr, stray))
                raise app.UsageError(f"unexpected argument{plural} {listed}", exitcode=2)
            return main(argv)
        except app.UsageError as error:
            print(f"{program}: {error}", file=sys.stderr)
            sys.exit(error.exitcode)

    app.run(strict_main, argv=[program, *args])


def run_launcher(main: Callable[[list[str]], object]) -> None:
    """An experiment's or script's `app.run(main)`, with the commands' --help (its module
    docstring and flags) and stray-argument error."""
    module = sys.modules[main.__module__]
    own = FLAGS.get_flags_for_module(module)
    run_app(main, Path(sys.argv[0]).name, own, sys.argv[1:], about=module.__doc__ or "")
