"""Encoding speed against the transformers reference pipeline, and our forward against the
machine's measured matmul peak, in one run: prints a table and writes JSON.

  .venv/bin/python scripts/bench_encode.py --out results/bench_encode.json

Per model, on the same CrossNER sentences (gold spans), same machine, same tap block:
- ours, end to end: `CorpusEncoder.documents` (tokenise, window, bucket, jit forward up to the
  tap on all local devices, gather at the span ends, head projection), as `ner-jax index` runs;
- ours, forward alone: the jitted forward over the same batches, inputs already on the host;
- the reference: transformers (PyTorch, fp32, all CPU threads) running every block of the base
  model (no LM head) with a forward hook on the tap block's `v_proj`, batches of
  --reference_batch sentences in corpus order padded to their longest (tokenise, forward, gather
  at the span ends), and, for information, the same with the LM head (`--lm_head`).
The peak is the best of several dense fp32 matmuls (JAX on one and on all devices, NumPy's BLAS,
torch) timed in the same run; our forward's FLOPs are XLA's count for each compiled shape.
Passes alternate between the sides; each figure is the median of --repeats after a warm-up
(the LM-head variant: one pass).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ner_jax.cli import run_launcher, use_all_cpu_cores  # noqa: E402

use_all_cpu_cores()  # as `ner-jax index` does, before jax loads

import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from absl import flags, logging  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec  # noqa: E402

from ner_jax.data import build_benchmark  # noqa: E402
from ner_jax.detector import NO_DETECTOR  # noqa: E402
from ner_jax.features import mention_tokens, plan_batches  # noqa: E402
from ner_jax.head import ProjectionHead, save_head, shipped_head  # noqa: E402
from ner_jax.index import CorpusEncoder, Document  # noqa: E402
from ner_jax.model import NAMED_MODELS, resolve_tap  # noqa: E402

flags.DEFINE_list("models", ["gemma3-270m", "smollm2-135m"], "named models")
flags.DEFINE_string("data", os.environ.get("NER_JAX_DATA", "../shared/data"), "data root")
flags.DEFINE_integer("documents", 500, "CrossNER sentences per pass")
flags.DEFINE_integer("repeats", 2, "timed passes per side")
flags.DEFINE_integer("reference_batch", 64, "sentences per reference forward")
flags.DEFINE_bool("lm_head", True, "also time the reference with its LM head (information)")
flags.DEFINE_enum(
    "dtype", "float32", ["float32", "bfloat16"], "our decoder's compute dtype (the reference: fp32)"
)
flags.DEFINE_string("out", None, "JSON output path")
FLAGS = flags.FLAGS


def sentences(count: int) -> list[Document]:
    root = Path(FLAGS.data) / "crossner"
    if not root.is_dir():
        raise SystemExit(f"{root}: CrossNER not found (set --data or NER_JAX_DATA)")
    files = [str(p) for d in sorted(root.iterdir()) if d.is_dir() for p in sorted(d.glob("*.txt"))]
    docs = build_benchmark(files).documents[:count]
    spans = [tuple(sorted({(s.start, s.end) for s in d.spans})) for d in docs]
    return [Document(d.id, d.text, s) for d, s in zip(docs, spans, strict=True)]


def matmul_peak(n: int = 2048, repeats: int = 5) -> dict:
    """GFLOP/s of [n, n] @ [n, n] fp32 by each way this machine can multiply; best = peak."""
    flop = 2 * n**3
    a = np.random.default_rng(0).standard_normal((n, n), np.float32)

    def best(run) -> float:
        run()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return round(flop / min(times) / 1e9, 1)

    one = jax.device_put(a, jax.local_devices()[0])
    single = jax.jit(lambda x: x @ x)
    devices = jax.local_devices()
    mesh = jax.sharding.Mesh(np.array(devices), ("data",))
    rows = jax.device_put(a, NamedSharding(mesh, PartitionSpec("data")))
    whole = jax.device_put(a, NamedSharding(mesh, PartitionSpec()))
    sharded = jax.jit(lambda x, y: x @ y, out_shardings=NamedSharding(mesh, PartitionSpec("data")))
    t = torch.from_numpy(a)
    result = {
        "jax_1_device": best(lambda: single(one).block_until_ready()),
        f"jax_{len(devices)}_devices": best(lambda: sharded(rows, whole).block_until_ready()),
        "numpy": best(lambda: a @ a),
        "torch": best(lambda: torch.mm(t, t)),
    }
    return {"size": n, "gflops": result, "peak_gflops": max(result.values())}


def random_head(model: str, directory: Path) -> Path:
    """A head of the shipped shape (500-500, raw mix 0.5) with random weights: speed only."""
    named = NAMED_MODELS[model]
    tap = f"{named.tap_component}@{named.tap_block}"
    width = resolve_tap(model).config.component_width(named.tap_component)
    params = ProjectionHead(500, 500).init(jax.random.key(0), np.zeros((1, width)))["params"]
    record = dict(model=model, taps=[tap], sentence_end=False, hidden=500, out=500, dropout=0.1)
    record |= dict(skip=0.0, query_template=" {}", raw_mix=0.5, raw_width=width, variant="random")
    return save_head(directory / f"{model}-random.safetensors", params, record)


class Ours:
    """Our index path and forward on the given documents."""

    def __init__(self, model: str, head: Path, documents: list[Document]):
        self.encoder = CorpusEncoder.load(model, head, dtype=FLAGS.dtype, detector=NO_DETECTOR)
        self.documents = documents
        self.extractor = self.encoder.extractor
        texts = [d.text for d in documents]
        ids, cols, rows, _ = self.extractor.span_tokens(texts, [d.spans for d in documents])
        pad, devices = self.extractor.model.tokenizer.pad_id, len(jax.local_devices())
        budget = self.extractor.token_budget
        self.batches = list(plan_batches(ids, cols, rows, pad, budget, devices))
        # Real tokens of the texts (the reference reads them all; we stop at the last span).
        self.real_tokens = sum(map(len, self.extractor.encode(texts)[0]))
        self.computed_real_tokens = sum(map(len, ids))
        self.computed_tokens = sum(b.tokens.size for b in self.batches)
        self.mentions = sum(len(d.spans) for d in documents)

    def end_to_end(self) -> None:
        self.encoder.documents(self.documents)

    def forward(self) -> None:
        extractor = self.extractor
        for b in self.batches:  # one at a time: the device work only, no overlap with the host
            out = extractor.forward(extractor.params, b.tokens, b.segments, b.cols)
            jax.block_until_ready(out)

    def flops(self) -> float:
        """XLA's FLOP count of one pass (each shape's compiled forward times its batches)."""
        extractor, by_shape = self.extractor, {}
        for b in self.batches:
            shape = (b.tokens.shape, b.cols.shape)
            if shape not in by_shape:
                lowered = extractor.forward.lower(extractor.params, b.tokens, b.segments, b.cols)
                cost = lowered.cost_analysis()
                cost = cost[0] if isinstance(cost, list) else cost
                by_shape[shape] = [float(cost["flops"]), 0]
            by_shape[shape][1] += 1
        return sum(flop * count for flop, count in by_shape.values())


class Reference:
    """The reference pipeline: transformers fp32, every block, a hook on the tap's v_proj."""

    def __init__(self, model: str, documents: list[Document], batch: int):
        named = NAMED_MODELS[model]
        gguf = named.gguf_path()
        torch.set_num_threads(len(os.sched_getaffinity(0)))
        self.causal = transformers.AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        ).eval()
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name
        )
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.base = self.causal.model
        self.v_proj = self.base.layers[named.tap_block].self_attn.v_proj
        self.documents, self.batch = documents, batch
        self.blocks = len(self.base.layers)

    def run(self, lm_head: bool = False) -> tuple[int, int]:
        """One pass: (real tokens, mention vectors read)."""
        seen: list[torch.Tensor] = []
        hook = self.v_proj.register_forward_hook(lambda _m, _i, out: seen.append(out))
        tokens = mentions = 0
        try:
            with torch.inference_mode():
                for first in range(0, len(self.documents), self.batch):
                    chunk = self.documents[first : first + self.batch]
                    enc = self.tokenizer(
                        [d.text for d in chunk],
                        padding=True,
                        return_offsets_mapping=True,
                        return_tensors="pt",
                    )
                    seen.clear()
                    model = self.causal if lm_head else self.base
                    model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
                    values = seen[0]  # [B, T, W]
                    for row, doc in enumerate(chunk):
                        cols = mention_tokens(enc["offset_mapping"][row].numpy(), doc.spans)
                        values[row, torch.from_numpy(cols[cols >= 0])].numpy()
                        mentions += int((cols >= 0).sum())
                    tokens += int(enc["attention_mask"].sum())
        finally:
            hook.remove()
        self.last = tokens, mentions
        return self.last


def timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def progress(model: str, side: str, what: str, seconds: float) -> None:
    """A line per pass on stderr: a whole run takes minutes per model between table rows."""
    print(f"{model}: {side} {what}: {seconds:.1f} s", file=sys.stderr, flush=True)


def bench_model(model: str, documents: list[Document], head: Path) -> dict:
    ours = Ours(model, head, documents)
    reference = Reference(model, documents, FLAGS.reference_batch)
    sides = {
        "ours_end_to_end": ours.end_to_end,
        "ours_forward": ours.forward,
        "reference": reference.run,
    }
    for name, run in sides.items():  # warm-up: compile every shape, touch the memory
        progress(model, name, "warm-up", timed(run))
    seconds = {name: [] for name in sides}
    for repeat in range(FLAGS.repeats):
        for name, run in sides.items():
            seconds[name].append(timed(run))
            progress(model, name, f"pass {repeat + 1}/{FLAGS.repeats}", seconds[name][-1])
    if FLAGS.lm_head:  # information only: one pass, the base model already warm
        seconds["reference_lm_head"] = [timed(lambda: reference.run(lm_head=True))]
        progress(model, "reference_lm_head", "pass 1/1", seconds["reference_lm_head"][0])
    median = {name: statistics.median(s) for name, s in seconds.items()}
    ref_tokens, ref_mentions = reference.last
    flops = ours.flops()
    row = {
        "model": model,
        "tap_block": ours.extractor.model.tap_block,
        "blocks_ours": ours.extractor.model.tap_block + 1,
        "blocks_reference": reference.blocks,
        "devices": len(jax.local_devices()),
        "dtype_ours": FLAGS.dtype,
        "documents": len(documents),
        "mentions": ours.mentions,
        "reference_mentions_read": ref_mentions,
        "real_tokens_ours": ours.real_tokens,
        "real_tokens_reference": ref_tokens,
        "real_tokens_computed_ours": ours.computed_real_tokens,
        "padding_ours": round(1 - ours.computed_real_tokens / ours.computed_tokens, 3),
        "batches_ours": len(ours.batches),
        "reference_batch": FLAGS.reference_batch,
        "seconds": {name: round(s, 3) for name, s in median.items()},
        "seconds_all": {name: [round(x, 3) for x in s] for name, s in seconds.items()},
        "forward_gflop_per_pass": round(flops / 1e9, 2),
        "forward_gflops": round(flops / median["ours_forward"] / 1e9, 1),
    }
    for name, s in median.items():
        row[f"{name}_tokens_per_s"] = round(ours.real_tokens / s, 1)
        row[f"{name}_mentions_per_s"] = round(ours.mentions / s, 1)
    row["speedup_end_to_end"] = round(median["reference"] / median["ours_end_to_end"], 2)
    row["speedup_forward"] = round(median["reference"] / median["ours_forward"], 2)
    if FLAGS.lm_head:
        row["speedup_end_to_end_vs_lm_head"] = round(
            median["reference_lm_head"] / median["ours_end_to_end"], 2
        )
    return row


def print_table(rows: list[dict], peak: dict) -> None:
    print(f"matmul peak {peak['peak_gflops']} GFLOP/s ({peak['gflops']})")
    header = (
        f"{'model':<14} {'side':<18} {'s/pass':>8} {'tokens/s':>9} {'mentions/s':>10} {'x ref':>6}"
    )
    print(header)
    for r in rows:
        for name, s in r["seconds"].items():
            ratio = round(r["seconds"]["reference"] / s, 2)
            print(
                f"{r['model']:<14} {name:<18} {s:>8.2f} {r[name + '_tokens_per_s']:>9.0f} "
                f"{r[name + '_mentions_per_s']:>10.0f} {ratio:>6}"
            )
        share = r["forward_gflops"] / peak["peak_gflops"]
        print(f"{r['model']:<14} forward {r['forward_gflops']} GFLOP/s = {share:.0%} of peak")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    documents = sentences(FLAGS.documents)
    peak = matmul_peak()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in FLAGS.models:
            head = shipped_head(model) or random_head(model, Path(tmp))
            rows.append(bench_model(model, documents, head))
            rows[-1]["head"] = "shipped" if shipped_head(model) else "random (same shape)"
    peak_after = matmul_peak()  # the machine's state can drift: the larger peak counts
    peak["peak_gflops"] = max(peak["peak_gflops"], peak_after["peak_gflops"])
    peak["gflops_after"] = peak_after["gflops"]
    for row in rows:
        row["forward_fraction_of_peak"] = round(row["forward_gflops"] / peak["peak_gflops"], 3)
    print_table(rows, peak)
    gemma = next((r for r in rows if r["model"] == "gemma3-270m"), rows[0])
    result = {
        "encode_speedup_vs_reference": gemma["speedup_end_to_end"],
        "forward_fraction_of_peak": gemma["forward_fraction_of_peak"],
        "matmul": peak,
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
    }
    if FLAGS.out:
        Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
        Path(FLAGS.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        run_launcher(main)
