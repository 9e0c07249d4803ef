"""The `ner-jax` command line: an absl app per subcommand."""

from __future__ import annotations

import importlib
import sys

from absl import app

# Subcommand -> module with `define_flags()` and `main(argv)`; modules load only when chosen.
COMMANDS = {
    "models": ("ner_jax.cli", "list the named models: installed?, architecture, tap block, width"),
    "demo": ("ner_jax.demo", "run the default model on the demo corpus"),
}


def define_flags() -> None:
    pass


def main(argv: list[str]) -> None:
    """`ner-jax models`: one line per named model."""
    del argv
    from ner_jax.models import DEFAULT_MODEL, NAMED_MODELS, cache_root

    rows = [("name", "installed", "arch", "blocks", "tap block", "width", "package")]
    for m in NAMED_MODELS.values():
        version = m.installed_version()
        installed = f"yes ({version})" if version else "no"
        default = " (default)" if m.name == DEFAULT_MODEL else ""
        rows.append(
            (
                m.name + default,
                installed,
                m.architecture,
                str(m.num_blocks),
                str(m.tap_block),
                str(m.value_width),
                m.install_command,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(
        f"\nAny HF checkpoint directory or .gguf file also works as --model. Cache: {cache_root()}"
    )


def usage() -> str:
    lines = ["usage: ner-jax COMMAND [--flags]", "", "commands:"]
    lines += [f"  {name:10s} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines.append("\n`ner-jax COMMAND --help` lists a command's flags.")
    return "\n".join(lines)


def run() -> None:
    """Console-script entry point."""
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0 if len(sys.argv) >= 2 else 1)
    command = sys.argv[1]
    if command not in COMMANDS:
        print(f"ner-jax: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(COMMANDS[command][0])
    module.define_flags()
    app.run(module.main, argv=[f"ner-jax {command}", *sys.argv[2:]])


if __name__ == "__main__":
    run()
