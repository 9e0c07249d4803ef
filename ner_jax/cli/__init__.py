"""The `ner-jax` command line: an absl app per subcommand."""

from __future__ import annotations

import importlib
import logging as std_logging
import os
import sys
from typing import NamedTuple

from ner_jax import __version__
from ner_jax.cli.flags import config_from_flags, override, parse_value
from ner_jax.cli.runner import flags_defined_by, help_text, run_app, run_launcher

__all__ = [
    "COMMANDS",
    "config_from_flags",
    "help_text",
    "keep_compilations",
    "override",
    "parse_value",
    "run",
    "run_launcher",
    "usage",
    "use_all_cpu_cores",
]


class Command(NamedTuple):
    module: str  # has `define_flags()` and `main(argv)`; loaded only when the command is chosen
    summary: str
    arguments: str = ""  # the positional arguments it takes, as its usage line names them


COMMANDS = {
    "models": Command(
        "ner_jax.cli.models", "the named models: installed?, architecture, tap, width"
    ),
    "demo": Command("ner_jax.cli.demo", "run the default model on the demo corpus"),
    "evaluate": Command(
        "ner_jax.cli.evaluate", "retrieval benchmark of labelled data: report + rankings"
    ),
    "probe": Command("ner_jax.cli.probe", "score every block and component for type separation"),
    "index": Command(
        "ner_jax.cli.index", "build a corpus index of documents' mentions, or --add to one"
    ),
    "search": Command(
        "ner_jax.cli.search",
        "documents of an index mentioning a described entity type",
        "DESCRIPTION...",
    ),
    "serve": Command(
        "ner_jax.cli.serve", "a search page and JSON API over an index, its model loaded once"
    ),
    "import-head": Command(
        "ner_jax.cli.import_head", "the paper's released PyTorch head as a head file", "PTH"
    ),
}


def usage() -> str:
    lines = ["usage: ner-jax COMMAND [--flags]", "       ner-jax --version", "", "commands:"]
    lines += [f"  {name:10s} {command.summary}" for name, command in COMMANDS.items()]
    lines.append("\n`ner-jax COMMAND --help` lists a command's flags.")
    return "\n".join(lines)


def use_all_cpu_cores() -> None:
    """One virtual CPU device per core, unless XLA_FLAGS already says (set before jax loads).

    A large matmul already uses every core, but most other XLA CPU ops run on about one; data
    parallelism over per-core devices keeps them all busy, which speeds up feature extraction
    on a multi-core CPU. Accelerators are unaffected."""
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        count = len(os.sched_getaffinity(0))
        flag = f"--xla_force_host_platform_device_count={count}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()


def keep_compilations() -> None:
    """XLA executables cached on disk (JAX's persistent compilation cache), unless the user set
    JAX_COMPILATION_CACHE_DIR: a command's jit shapes compile once per machine, not per run
    (compiling is a large share of a short command's time, such as the demo's index build)."""
    import jax

    from ner_jax.model import cache_root

    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        jax.config.update("jax_compilation_cache_dir", str(cache_root() / "xla"))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def run() -> None:
    """Console-script entry point."""
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0 if args else 1)
    if args[0] in ("-V", "--version"):
        print(f"ner-jax {__version__}")
        sys.exit(0)
    name = args[0]
    if name not in COMMANDS:
        print(f"ner-jax: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    command = COMMANDS[name]
    use_all_cpu_cores()
    keep_compilations()
    # JAX logs at INFO that it found no TPU on every CPU or GPU host: noise for our users.
    std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)
    module = importlib.import_module(command.module)
    own = flags_defined_by(module.define_flags)
    program = f"ner-jax {name}"
    run_app(module.main, program, own, args[1:], command.summary, command.arguments)


if __name__ == "__main__":
    run()
