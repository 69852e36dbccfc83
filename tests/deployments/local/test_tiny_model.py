"""The tiny development model: built once, atomically, and the same every time."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from deployments.local import tiny_model


def test_concurrent_builders_leave_one_complete_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[Path] = []
    barrier = threading.Barrier(4)

    def fake_build(folder: Path) -> None:  # the real one needs torch; the race is the point
        barrier.wait()  # every builder is mid-build at once
        (folder / "config.json").write_text(json.dumps({"builder": len(builds)}))
        builds.append(folder)

    monkeypatch.setattr(tiny_model, "_build", fake_build)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(tiny_model.ensure_tiny_model(tmp_path)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    target = tiny_model.tiny_model_path(tmp_path)
    assert results == [target] * 4
    assert (target / "config.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no staging left behind
    tiny_model.ensure_tiny_model(tmp_path)  # already there: nothing is built
    assert len(builds) == 4


def test_cache_folder_follows_switchyard_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHYARD_CACHE", str(tmp_path))

    assert tiny_model.tiny_model_path() == tmp_path / "tiny-llama-v1"


def test_the_real_build_is_deterministic_and_vllm_shaped(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    first = tiny_model.ensure_tiny_model(tmp_path / "a")
    second = tiny_model.ensure_tiny_model(tmp_path / "b")

    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    config = json.loads((first / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["hidden_size"] // config["num_attention_heads"] == 64
    assert config["vocab_size"] == tiny_model.VOCAB_SIZE
    assert "add_generation_prompt" in (first / "chat_template.jinja").read_text()
