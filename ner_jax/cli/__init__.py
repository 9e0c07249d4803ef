"""The `ner-jax` command line: an absl app per subcommand."""

from __future__ import annotations

import importlib
import logging as std_logging
import os
import sys

from absl import app

# Subcommand -> module with `define_flags()` and `main(argv)`; modules load only when chosen.
COMMANDS = {
    "models": ("ner_jax.cli.models", "the named models: installed?, architecture, tap, width"),
    "demo": ("ner_jax.cli.demo", "run the default model on the demo corpus"),
    "evaluate": ("ner_jax.cli.evaluate", "retrieval benchmark of labelled data: report + rankings"),
    "probe": ("ner_jax.cli.probe", "score every block and component for type separation"),
    "index": ("ner_jax.cli.index", "build a corpus index of documents' mentions, or --add to one"),
    "search": ("ner_jax.cli.search", "documents of an index mentioning a described entity type"),
}


def usage() -> str:
    lines = ["usage: ner-jax COMMAND [--flags]", "", "commands:"]
    lines += [f"  {name:10s} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines.append("\n`ner-jax COMMAND --help` lists a command's flags.")
    return "\n".join(lines)


def use_all_cpu_cores() -> None:
    """One virtual CPU device per core, unless XLA_FLAGS already says (set before jax loads).

    A large matmul already uses every core, but most other XLA CPU ops run on about one; data
    parallelism over per-core devices keeps them all busy (Gemma feature extraction on 2 cores,
    measured when this was added: 900 -> 1,150 tokens/s). Accelerators are unaffected."""
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        count = len(os.sched_getaffinity(0))
        flag = f"--xla_force_host_platform_device_count={count}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()


def keep_compilations() -> None:
    """XLA executables cached on disk (JAX's persistent compilation cache), unless the user set
    JAX_COMPILATION_CACHE_DIR: a command's jit shapes compile once per machine, not per run
    (the demo's index build on 2 cores: 112.6 s the first time, 57.7 s the next, under load)."""
    import jax

    from ner_jax.models import cache_root

    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        jax.config.update("jax_compilation_cache_dir", str(cache_root() / "xla"))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def run() -> None:
    """Console-script entry point."""
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0 if len(sys.argv) >= 2 else 1)
    command = sys.argv[1]
    if command not in COMMANDS:
        print(f"ner-jax: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    use_all_cpu_cores()
    keep_compilations()
    # JAX logs at INFO that it found no TPU on every CPU or GPU host: noise for our users.
    std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)
    module = importlib.import_module(COMMANDS[command][0])
    module.define_flags()
    app.run(module.main, argv=[f"ner-jax {command}", *sys.argv[2:]])


if __name__ == "__main__":
    run()
