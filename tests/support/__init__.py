"""Helpers the tests share: tiny models, references, the CLI runner, data locations."""
