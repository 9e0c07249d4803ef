"""The contrastive projection head: module, losses, training data, training and files."""

from ner_jax.head.file import (
    Head,
    add_context,
    add_projection,
    load_head,
    save_head,
    shipped_head,
    weights_path,
    without_context,
)
from ner_jax.head.mentions import Corpus, MentionSet
from ner_jax.head.paper import (
    PAPER,
    default_head,
    head_file,
    import_paper_head,
    imported_head_path,
)
from ner_jax.head.projection import ProjectionHead
from ner_jax.head.train import TrainConfig, train_head
from ner_jax.head.training import OptimConfig, init_state, make_train_step, sample_batch

__all__ = [
    "PAPER",
    "Corpus",
    "Head",
    "MentionSet",
    "OptimConfig",
    "ProjectionHead",
    "TrainConfig",
    "add_context",
    "add_projection",
    "default_head",
    "head_file",
    "import_paper_head",
    "imported_head_path",
    "init_state",
    "load_head",
    "make_train_step",
    "sample_batch",
    "save_head",
    "shipped_head",
    "train_head",
    "weights_path",
    "without_context",
]
