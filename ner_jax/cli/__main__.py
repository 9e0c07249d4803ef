"""`python -m ner_jax.cli`: the same as the `ner-jax` console script."""

from ner_jax.cli import run

run()
