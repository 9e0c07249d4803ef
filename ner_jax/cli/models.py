"""`ner-jax models`: the named models, whether each is installed, and their facts."""

from __future__ import annotations

from ner_jax.model import DEFAULT_MODEL, NAMED_MODELS, cache_root


def define_flags() -> None:
    pass


def main(argv: list[str]) -> None:
    del argv
    rows = [("name", "installed", "arch", "blocks", "tap", "width", "package")]
    for m in NAMED_MODELS.values():
        version = m.installed_version()
        installed = f"yes ({version})" if version else "no"
        if m.weights_env and m.user_weights():
            installed = f"yes (${m.weights_env})"
        default = " (default)" if m.name == DEFAULT_MODEL else ""
        rows.append(
            (
                m.name + default,
                installed,
                m.architecture,
                str(m.num_blocks),
                f"{m.tap_component}@{m.tap_block}",
                str(m.tap_width),
                m.install_command,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(
        f"\nAny HF checkpoint directory or .gguf file also works as --model. Cache: {cache_root()}"
    )
