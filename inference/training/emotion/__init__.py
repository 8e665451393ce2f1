"""Fine-tune and evaluate the GoEmotions emotion classifier.

Library code, importable without Django. The management commands
``train_emotion`` and ``evaluate_emotion`` are thin wrappers over
:func:`train` and :func:`evaluate`.

Data format (GoEmotions, Demszky et al. 2020): tab-separated, no header,
``text<TAB>label ids, comma-separated<TAB>comment id``; ``labels.txt`` holds one
label name per line (line ``i`` is label id ``i``).

The trained folder is a plain transformers ``BertForSequenceClassification``
(multi-label head, fp16 safetensors) that loads with
``AutoModelForSequenceClassification.from_pretrained(path)``. Its
``config.json`` carries, besides ``id2label``/``label2id``:

``thresholds``
    ``{label: float}`` per-label decision thresholds on the sigmoid
    probabilities, tuned on the validation slice carved from the training
    split (``dev.tsv`` is never read in training: it stays held out).
``pooling``
    ``"cls"`` (the standard BERT pooler, what ``forward`` does) or ``"mean"``
    (masked mean of the last hidden states fed to ``dropout`` + ``classifier``;
    the loading code must then pool itself, see :func:`predict_logits`).
``val_macro_f1`` / ``val_micro_f1`` / ``val_per_label``
    Validation-slice figures with the tuned thresholds (optimistic: the
    thresholds were tuned there); held-out figures come from
    ``evaluate_emotion`` on ``dev.tsv``.
``training``
    The recipe, including ``val_fraction``, ``seed`` and ``limit`` from which
    :func:`retune_thresholds` carves the same validation slice again.
"""

from .data import (
    BASE_MODEL_NAME,
    BASE_MODEL_PACKAGE,
    Example,
    base_model_path,
    length_bucketed_batches,
    read_labels,
    read_tsv,
)
from .evaluate import evaluate, retune_thresholds, validation_slice
from .loss import positive_weights
from .metrics import EvalReport, LabelMetrics, f1_report, tune_thresholds
from .model import load_model, predict_labels, predict_logits, predict_proba, thresholds_vector
from .soup import soup, train_soup
from .split import rarest_label_strata, stratified_split
from .train import TrainResult, train

__all__ = [
    "BASE_MODEL_NAME",
    "BASE_MODEL_PACKAGE",
    "Example",
    "LabelMetrics",
    "EvalReport",
    "TrainResult",
    "base_model_path",
    "read_labels",
    "read_tsv",
    "length_bucketed_batches",
    "load_model",
    "predict_logits",
    "predict_proba",
    "predict_labels",
    "thresholds_vector",
    "f1_report",
    "tune_thresholds",
    "positive_weights",
    "rarest_label_strata",
    "stratified_split",
    "validation_slice",
    "train",
    "soup",
    "train_soup",
    "evaluate",
    "retune_thresholds",
]
