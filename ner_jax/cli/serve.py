"""`ner-jax serve`: a search page and JSON API over an index, its model loaded once."""

from __future__ import annotations

from absl import flags

from ner_jax.cli.flags import config_from_flags
from ner_jax.serve import ServeConfig, serve

FLAGS = flags.FLAGS
DEFAULT = ServeConfig()  # the flags' defaults live in the config (None: not given)


def define_flags() -> None:
    flags.DEFINE_string("index", None, "index directory (opened read-only)", required=True)
    flags.DEFINE_string("host", None, f"address to bind (default {DEFAULT.host}: this host only)")
    flags.DEFINE_integer("port", None, f"port (default {DEFAULT.port}; 0: any free one)")
    flags.DEFINE_integer(
        "max_batch", None, f"descriptions embedded in one forward (default {DEFAULT.max_batch})"
    )
    flags.DEFINE_float(
        "window_ms",
        None,
        f"once several searches arrive together, wait this long for more (default "
        f"{DEFAULT.window_ms})",
    )
    flags.DEFINE_integer(
        "queue_size", None, f"searches that may wait; more get 503 (default {DEFAULT.queue_size})"
    )
    flags.DEFINE_float(
        "timeout_s",
        None,
        f"a search not answered in this time gets 504 (default {DEFAULT.timeout_s})",
    )
    flags.DEFINE_integer(
        "rerank",
        None,
        f"first hits reordered by the model's verdict (default {DEFAULT.rerank}: none; "
        "seconds a search on a CPU)",
    )
    flags.DEFINE_bool("warmup", True, "compile the batch shapes before listening")


def main(argv: list[str]) -> None:
    del argv  # none: ner_jax.cli.run_app refuses them
    config = config_from_flags(ServeConfig)
    try:
        serve(FLAGS.index, config, FLAGS.warmup, started=announce)
    except (ValueError, OSError) as error:  # no index, another encoder, port taken
        raise SystemExit(f"ner-jax serve: {error}") from None


def announce(server) -> None:
    documents, mentions = server.counts
    print(f"serving {documents} documents, {mentions} mentions on {server.url}", flush=True)
