"""Flags into configs (config_from_flags) and field=value overrides."""

from __future__ import annotations

import dataclasses

import pytest
from absl import app, flags

from ner_jax.cli import config_from_flags, override, parse_value
from ner_jax.detector import DetectorTrainConfig
from ner_jax.head import OptimConfig


@dataclasses.dataclass(frozen=True)
class Example:
    data: tuple[str, ...]
    model: str = "default-model"
    heads: tuple[str, ...] = ()
    block: int | None = None
    steps: int = 10
    rate: float = 0.1
    context: tuple[int, int] = (1, 2)
    cached: bool = False


def example_flags(*argv: str) -> flags.FlagValues:
    values = flags.FlagValues()
    flags.DEFINE_list("data", None, "files", flag_values=values)
    flags.DEFINE_string("model", None, "model", flag_values=values)
    flags.DEFINE_multi_string("head", [], "heads", flag_values=values)
    flags.DEFINE_integer("block", None, "block", flag_values=values)
    flags.DEFINE_integer("steps", 10, "steps", flag_values=values)
    flags.DEFINE_integer("x_steps", 3, "steps, under a prefix", flag_values=values)
    flags.DEFINE_bool("cached", False, "cached", flag_values=values)
    values(["prog", *argv])
    return values


def test_config_from_flags_matches_fields_by_name():
    values = example_flags("--data=a,b", "--head=h1", "--head=h2", "--steps=5", "--cached")
    config = config_from_flags(Example, renames={"heads": "head"}, flag_values=values)
    # Lists become tuples; unset (None) flags and fields without a flag keep the default.
    assert config == Example(("a", "b"), heads=("h1", "h2"), steps=5, cached=True)
    overridden = config_from_flags(Example, flag_values=values, steps=7, model="m")
    assert overridden.steps == 7 and overridden.model == "m" and overridden.heads == ()
    prefixed = config_from_flags(Example, prefix="x_", flag_values=values, data=("z",))
    assert prefixed.steps == 3 and prefixed.data == ("z",)


def test_config_from_flags_refuses_unknown_names():
    values = example_flags("--data=a")
    with pytest.raises(TypeError, match="no fields \\['head'\\]"):
        config_from_flags(Example, renames={"head": "head"}, flag_values=values)
    with pytest.raises(TypeError, match="no flags \\['headz'\\]"):
        config_from_flags(Example, renames={"heads": "headz"}, flag_values=values)
    with pytest.raises(TypeError, match="no fields \\['nope'\\]"):
        config_from_flags(Example, flag_values=values, nope=1)


def test_override_parses_each_value_as_its_field_type():
    optim = override(OptimConfig(), ["steps=500", "learning_rate=3e-4", "loss=triplet"])
    assert (optim.steps, optim.learning_rate, optim.loss) == (500, 3e-4, "triplet")
    assert isinstance(optim.steps, int) and isinstance(optim.learning_rate, float)
    detector = override(DetectorTrainConfig(("attn@15",)), ["context=2:0", "taps=v@7:attn@15"])
    assert detector.context == (2, 0) and detector.taps == ("v@7", "attn@15")
    example = override(Example(("a",)), ["block=4", "cached=yes", "heads="])
    assert (example.block, example.cached, example.heads) == (4, True, ())
    assert override(example, ["block=none", "cached=false"]).block is None
    assert override(example, []) == example


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("stepz=3", "--set stepz=3: OptimConfig has no field 'stepz'; fields: loss, "),
        ("steps=many", "--set steps=many: bad value for steps: "),
        ("steps=", "bad value for steps"),
        ("steps", "--set 'steps': expected FIELD=VALUE"),
        ("loss=hinge", "loss must be one of"),  # the config's own check
        ("dropout=none", "bad value for dropout"),  # not an optional field
    ],
)
def test_override_errors_name_the_field(assignment, message):
    with pytest.raises(app.UsageError) as error:
        override(OptimConfig(), [assignment])
    assert message in str(error.value)


def test_parse_value_errors():
    with pytest.raises(ValueError, match="not a boolean"):
        parse_value(bool, "maybe")
    with pytest.raises(ValueError, match="not 2 values"):
        parse_value(tuple[int, int], "1:2:3")
    with pytest.raises(TypeError, match="cannot be given as text"):
        parse_value(dict, "{}")
    assert parse_value(int | None, "None") is None and parse_value(str | None, "x") == "x"
