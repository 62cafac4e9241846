"""`make gpu-check`'s plumbing without a GPU: its --smoke run end to end (the only place
the check runs in tests, GPUs hidden), the one-line refusal without a GPU, and the
variants it skips with a reason instead of failing."""
import json
import os
import subprocess
import sys

import pytest

from experiments.tools import gpu_check

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V100 = {"gpus": [{"name": "Tesla V100-SXM2-16GB", "compute_capability": "7.0"}]}
P100 = {"gpus": [{"name": "Tesla P100-PCIE-16GB", "compute_capability": "6.0"}]}
H100 = {"gpus": [{"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}]}


@pytest.mark.slow
def test_smoke_runs_the_whole_check_on_cpu_and_writes_one_json(fake_cifar10, tmp_path):
    data_dir, _, _ = fake_cifar10
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_USE_LEGACY_KERAS": "1",
           "PYTHONHASHSEED": "0"}
    done = subprocess.run([sys.executable, "-m", "scripts.gpu_check", "--smoke", "--out",
                           str(out), f"data_dir={data_dir}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["smoke"] is True and doc["status"] == "completed"
    assert doc["machine"]["label"] and doc["git"]["commit"] and doc["hardware"]["cpu_count"]
    assert "SMOKE" in doc["note"] and doc["settings"]["budget_s"] > 0
    for model, experiment in (("binarynet", "sec52_bop"), ("birealnet", "sec53_birealnet")):
        block = doc["step_time"][model]
        assert block["experiment"] == experiment and block["data"].startswith("synthetic")
        variants = block["variants"]
        assert set(variants) == {f"{p}{x}" for p in gpu_check.PRECISIONS for x in ("", "+xla")}
        measured = {k for k, v in variants.items() if v["status"] == "measured"}
        assert measured == {f"{p}{'+xla' if j else ''}"
                            for m, p, j in gpu_check.SMOKE_VARIANTS if m == model}
        for key in measured:
            v = variants[key]
            assert v["step_time_s"] > 0 and len(v["window_step_times_s"]) == v["windows"] >= 3
            assert v["flips"]["sane"] and v["loss"]["all_finite"] and v["tf32"] is False
            assert v["jit_compile"] == key.endswith("+xla")
        assert variants["float32"]["speedup_vs_float32"] == 1.0
        assert all(v["reason"] == "not part of --smoke" for v in variants.values()
                   if v["status"] == "skipped")
        assert block["fastest"] in measured
    assert doc["summary"]["binarynet"]["float32"].endswith("ms/step, 1.00x float32")
    assert doc["summary"]["birealnet"]["tf32+xla"] == "skipped"
    bf16 = doc["step_time"]["binarynet"]["variants"]["mixed_bfloat16"]
    assert bf16["status"] == "measured" and bf16["precision"] == "mixed_bfloat16"
    real = doc["sec52_real_steps"]
    assert real["status"] == "completed" and real["experiment"] == "sec52_bop"
    assert real["variant"] == doc["step_time"]["binarynet"]["fastest"]
    assert real["steps"] == doc["settings"]["real_steps"] and real["images_per_s"] > 0
    assert real["flips"]["sane"] and isinstance(real["loss"]["went_down"], bool)
    assert "ms per step" in done.stdout


def test_without_a_gpu_it_refuses_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(gpu_check, "visible_gpus", lambda: [])
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == gpu_check.NO_GPU + "\n" and not out.exists()


def test_what_a_gpu_cannot_run_is_skipped_with_the_reason():
    assert all(gpu_check.unsupported(p, H100, smoke=False) is None for p in gpu_check.PRECISIONS)
    assert gpu_check.unsupported("tf32", V100, False) == (
        "TF32 needs compute capability >= 8.0; this GPU has 7.0 (Ampere or later), where it "
        "would run as float32")
    assert "needs compute capability >= 8.0; this GPU has 7.0" in \
        gpu_check.unsupported("mixed_bfloat16", V100, False)
    assert gpu_check.unsupported("mixed_float16", V100, False) is None
    assert "needs compute capability >= 7.0" in gpu_check.unsupported("mixed_float16", P100, False)
    assert gpu_check.unsupported("float32", P100, False) is None
    # a machine with an old and a new GPU: the old one decides
    assert gpu_check.unsupported("tf32", {"gpus": H100["gpus"] + V100["gpus"]}, False)


def test_a_variant_that_does_not_fit_the_budget_is_skipped_not_started():
    args = gpu_check.parse_args([])
    variants = {}
    costs = {("birealnet", True): 45.0}
    # the deadline has passed: nothing is built, the reason names the time it would need
    gpu_check.measure_or_skip(variants, "birealnet", gpu_check.MODELS["birealnet"], "tf32",
                              True, args, {}, H100, deadline=0.0, costs=costs, now={})
    assert variants["tf32+xla"]["status"] == "skipped"
    assert variants["tf32+xla"]["reason"].startswith("budget: about 45 s needed")
    assert gpu_check.estimated_cost(costs, "birealnet", False) == 45.0
    assert gpu_check.estimated_cost(costs, "binarynet", False) is None


def test_smoke_never_writes_the_results_file():
    assert gpu_check.parse_args(["--smoke"]).out == gpu_check.SMOKE_OUT
    assert gpu_check.parse_args([]).out == gpu_check.DEFAULT_OUT == "results/gpu_check.json"
