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
    probabilities, tuned on the dev split.
``pooling``
    ``"cls"`` (the standard BERT pooler, what ``forward`` does) or ``"mean"``
    (masked mean of the last hidden states fed to ``dropout`` + ``classifier``;
    the loading code must then pool itself, see :func:`predict_logits`).
``dev_macro_f1`` / ``dev_micro_f1``
    Dev figures with the tuned thresholds.
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
from .metrics import EvalReport, LabelMetrics, f1_report, tune_thresholds
from .model import load_model, predict_labels, predict_logits, predict_proba, thresholds_vector
from .train import TrainResult, evaluate, retune_thresholds, train

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
    "train",
    "evaluate",
    "retune_thresholds",
]
