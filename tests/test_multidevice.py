"""Data-parallel feature extraction over several (virtual CPU) devices equals one device."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
from reference import relative_error
from test_features import SPANS, TEXTS
from tiny_models import tiny_checkpoint

from ner_jax.features import FeatureExtractor
from ner_jax.models import load_model

SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, jax
    from ner_jax.features import FeatureExtractor
    from ner_jax.models import load_model
    from test_features import SPANS, TEXTS
    assert len(jax.devices()) == 3, jax.devices()
    model = load_model(sys.argv[1], tap_block=2)
    out, kept = FeatureExtractor(model, ("v", "mlp"), (0, 2), token_budget=64)(TEXTS * 5, SPANS * 5)
    np.savez(sys.argv[2], kept=kept, **out)
    """
)


def test_three_devices_give_the_single_device_features(tmp_path):
    directory = str(tiny_checkpoint(tmp_path / "model"))
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=3",  # odd: rows must still divide
        "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), *sys.path]),
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, directory, str(tmp_path / "out.npz")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sharded = np.load(tmp_path / "out.npz")
    model = load_model(directory, tap_block=2)
    single, kept = FeatureExtractor(model, ("v", "mlp"), (0, 2))(TEXTS * 5, SPANS * 5)
    assert np.array_equal(sharded["kept"], kept)
    for name in ("v", "mlp"):
        assert relative_error(sharded[name], single[name]) <= 1e-5
