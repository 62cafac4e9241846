"""The benchmark's and the GPU-hour estimate's own logic, without timing anything: the MAC
counter against a hand count, the GPU-hour arithmetic on hand-made numbers, and the JSON
file keeping one part's keys when the other part is written."""
import json
import os

import larq as lq
import pytest
import tensorflow as tf

from experiments.tools import bench, gpu_hours


def tiny_model():
    """8x8x3 input; MACs by hand (biases not counted):
    conv_a  real input, binary weights, 3x3x3x4 "same" -> 8x8:   108 x 64 = 6912
    conv_b  binary x binary, 3x3x4x2 "valid" -> 6x6:               72 x 36 = 2592
    dw      real depthwise 3x3x2x1 "same" -> 6x6:                  18 x 36 =  648
    dense_a binary x binary, 72 -> 5:                                          360
    dense_b real, 5 -> 3:                                                       15
    """
    binary = dict(kernel_quantizer=lq.quantizers.NoOp(precision=1), kernel_constraint=None)
    x = inputs = tf.keras.Input((8, 8, 3))
    x = lq.layers.QuantConv2D(4, 3, padding="same", use_bias=False, name="conv_a", **binary)(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = lq.layers.QuantConv2D(2, 3, input_quantizer="ste_sign", name="conv_b", **binary)(x)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = tf.keras.layers.Flatten()(x)
    x = lq.layers.QuantDense(5, input_quantizer="ste_sign", name="dense_a", **binary)(x)
    x = tf.keras.layers.Dense(3, name="dense_b")(x)
    return tf.keras.Model(inputs, x)


def test_mac_counter_matches_a_hand_count_and_larq():
    model = tiny_model()
    macs = gpu_hours.count_macs(model)
    assert macs["binary"] == 2592 + 360
    assert macs["real"] == 6912 + 648 + 15
    assert macs["real_input_binary_weights"] == 6912
    assert macs["total"] == 6912 + 2592 + 648 + 360 + 15
    assert [row[0] for row in macs["layers"]] == ["conv_a", "conv_b", "dw", "dense_a", "dense_b"]
    assert gpu_hours.larq_macs(model) == {"total": macs["total"], "binary": macs["binary"]}


def test_gpu_hour_arithmetic_on_hand_numbers():
    est = gpu_hours.estimate(macs_per_image=1e9, epochs=10, sustained_tflops=1.0, gpus=2,
                             train_images=1000, val_images=100)
    assert est["train_flops"] == pytest.approx(10 * 1000 * 3 * 1e9 * 2)  # 6e13
    assert est["eval_flops"] == pytest.approx(10 * 100 * 1e9 * 2)  # 2e12
    assert est["gpu_hours"] == pytest.approx(62.0 / 3600)  # 6.2e13 FLOPs at 1e12 FLOP/s
    assert est["wall_days"] == pytest.approx(62.0 / 3600 / 2 / 24)
    assert est["train_images_per_s_per_gpu"] == pytest.approx(1e12 / 6e9)
    # the defaults are the ImageNet sizes
    full = gpu_hours.estimate(1e9, 1, 1.0, 1)
    assert full["train_flops"] == pytest.approx(1281167 * 6e9)
    assert full["eval_flops"] == pytest.approx(50000 * 2e9)


def test_the_gpu_hour_table_says_estimate():
    result = {"assumptions": {"sustained_tflops_per_gpu": 5.0, "gpus": 8, "backward_factor": 3},
              "runs": {"sec53_x": {"model": "M", "epochs": 100,
                                   "macs_per_image": {"total": 2e9, "binary": 1.5e9, "real": 5e8},
                                   "estimated_gpu_hours": 100.0,
                                   "estimated_wall_days_on_8_gpus": 0.52}}}
    table = gpu_hours.markdown(result)
    assert "ESTIMATE" in table and "est. GPU-hours @ 5 TFLOP/s" in table
    assert "| sec53_x | M | 100 | 2.000 (1.500 / 0.500) | 100 | 0.5 |" in table


def test_16_bit_precisions_are_assumed_faster_and_say_so():
    """At the documented ASSUMED rates, bf16 and fp16 give fewer GPU-hours than float32,
    TF32 lands in between; float32 keeps the rate the estimate always had."""
    hours = {p: gpu_hours.estimate(1.8e9, 100, gpu_hours.assumed_tflops(p), 8)["gpu_hours"]
             for p in gpu_hours.PRECISIONS}
    assert gpu_hours.assumed_tflops("float32") == gpu_hours.DEFAULT_SUSTAINED_TFLOPS == 5.0
    assert hours["mixed_bfloat16"] < hours["tf32"] < hours["float32"]
    assert hours["mixed_float16"] < hours["float32"]
    for p in gpu_hours.PRECISIONS:  # every assumption has its note and published peaks
        assert "assumed" in gpu_hours.RATE_NOTES[p] and p in gpu_hours.PUBLISHED_PEAK_TFLOPS
    table = gpu_hours.markdown({"assumptions": {"precision": "mixed_bfloat16",
                                                "sustained_tflops_per_gpu": 10.0, "gpus": 8,
                                                "backward_factor": 3}, "runs": {}})
    assert table.startswith("**ESTIMATE (not a measurement)**: mixed_bfloat16, 10 TFLOP/s")


def test_an_unknown_precision_is_refused_with_the_valid_list(capsys):
    with pytest.raises(ValueError, match="float32, tf32, mixed_bfloat16, mixed_float16"):
        gpu_hours.assumed_tflops("fp8")
    with pytest.raises(SystemExit):
        gpu_hours.main(["--precision", "fp8"])
    err = capsys.readouterr().err
    assert "invalid choice: 'fp8'" in err and "mixed_bfloat16" in err and "tf32" in err


def test_the_gpu_hour_json_records_the_precision_and_its_assumed_rate(tmp_path):
    out = tmp_path / "gpu_hours.json"
    gpu_hours.main(["--precision", "mixed_bfloat16", "--experiments", "sec53_birealnet_arxiv_v1",
                    "--bench", str(tmp_path / "none.json"), "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["estimate"] is True and result["precision"] == "mixed_bfloat16"
    a = result["assumptions"]
    assert a["sustained_tflops_per_gpu"] == 10.0 and a["precision"] == "mixed_bfloat16"
    assert a["sustained_rate_source"] == "ASSUMED default for mixed_bfloat16"
    assert a["published_peak_tflops"]["values"]["mixed_bfloat16"]["V100"] is None
    assert "ESTIMATE" in result["what"] and "ASSUMED" in result["what"]
    # a rate given on the command line wins, and says so
    gpu_hours.main(["--precision", "tf32", "--sustained-tflops", "3", "--experiments",
                    "sec53_birealnet_arxiv_v1", "--bench", str(tmp_path / "none.json"),
                    "--out", str(out)])
    a = json.loads(out.read_text())["assumptions"]
    assert a["sustained_tflops_per_gpu"] == 3.0 and a["sustained_rate_source"].startswith("--sus")


CIFAR = {"what": "cifar", "command": "make bench", "date": "d", "hardware": {"label": "h"},
         "packages": {}, "git": {"commit": "c"}, "settings": {"steps": 20},
         "input_pipeline_images_per_s": 1.0,
         "sec52_bop": {"suite_images_per_s": 1.0}, "sec52_adam": {"suite_images_per_s": 2.0}}


def test_imagenet_part_is_merged_without_dropping_cifar10_keys(tmp_path):
    path = str(tmp_path / "bench.json")
    with open(path, "w") as f:
        json.dump(CIFAR, f)
    bench.merge_report(path, imagenet={"data": bench.SAMPLE_DATA, "training": {}})
    with open(path) as f:
        written = json.load(f)
    assert {k: written[k] for k in CIFAR} == CIFAR
    assert written["imagenet"]["data"] == "100-image sample, repeated"

    # a new CIFAR-10 part replaces the CIFAR-10 keys and keeps the ImageNet part
    bench.merge_report(path, cifar10={**CIFAR, "sec52_bop": {"suite_images_per_s": 9.0}})
    with open(path) as f:
        again = json.load(f)
    assert again["sec52_bop"] == {"suite_images_per_s": 9.0}
    assert again["imagenet"] == written["imagenet"]
    assert set(again) == set(CIFAR) | {"imagenet"}


def _ratio(median, low, high, verdict):
    return {"ratio_wall": {"median": median, "low": low, "high": high},
            "verdicts_by_target": {"1.4": {"wall": verdict}, "0.95": {"wall": verdict}},
            "rounds": 12}


def test_the_precision_part_is_merged_alone_and_reported_with_its_verdicts(tmp_path):
    from experiments.report.speed import precision_lines

    path = str(tmp_path / "bench.json")
    with open(path, "w") as f:
        json.dump({**CIFAR, "imagenet": {"training": {}}}, f)
    part = {"command": "make bench", "hardware": {"cpu": "AMD EPYC 9R14", "cpu_count": 2},
            "git": {"commit": "abcdef0123"}, "date": "2026-12-02T00:00:00", "mixed": "mixed_bfloat16",
            "cases": {"binarynet_quarter": {
                "batch_size": 50, "suite_mixed_vs_fit_float32": _ratio(1.52, 1.47, 1.58, "holds"),
                "suite_mixed_vs_fit_mixed": _ratio(0.97, 0.93, 1.01, "inconclusive"),
                "suite_xla_vs_suite": _ratio(0.45, 0.44, 0.47, "-")}}}
    bench.merge_report(path, precision=part)
    with open(path) as f:
        written = json.load(f)
    assert {k: written[k] for k in CIFAR} == CIFAR and written["imagenet"] == {"training": {}}
    assert written["precision"] == part
    text = "\n".join(precision_lines(path))
    assert "| binarynet_quarter | 50 | 1.52 [1.47, 1.58]: holds | 0.97 [0.93, 1.01]: inconclusive" in text
    assert "AMD EPYC · 2 cores" in text and "abcdef0" in text
    assert "with XLA / without = 0.45 [0.44, 0.47]" in text
    assert "has not measured" in precision_lines(str(tmp_path / "none.json"))[0]


def test_merge_into_a_new_file(tmp_path):
    path = str(tmp_path / "sub" / "bench.json")
    bench.merge_report(path, imagenet={"training": {}})
    with open(path) as f:
        assert json.load(f) == {"imagenet": {"training": {}}}


def test_smoke_settings_never_overwrite_the_results_file():
    args = bench.parse_args(["--smoke", "--only", "imagenet"])
    assert os.path.abspath(args.out) != os.path.abspath(bench.DEFAULT_OUT)
    assert bench.parse_args([]).out == bench.DEFAULT_OUT


def test_the_tools_share_one_smoke_flag_and_the_old_name_still_works():
    from experiments.tools import gpu_check

    old, new = bench.parse_args(["--quick-smoke"]), bench.parse_args(["--smoke"])
    assert old.smoke and new.smoke and vars(old) == vars(new)
    assert not bench.parse_args([]).smoke
    assert gpu_check.parse_args(["--smoke"]).smoke


def test_the_tools_accept_only_data_overrides_as_absolute_paths(tmp_path, monkeypatch):
    from experiments.tools import measure

    monkeypatch.chdir(tmp_path)
    data = measure.data_overrides(["data_dir=~/tfds", "dataset.archive=c10.tar.gz"], "x")
    assert data == {"data_dir": os.path.expanduser("~/tfds"),
                    "dataset.archive": str(tmp_path / "c10.tar.gz")}
    assert measure.data_overrides([], "x") == {
        "data_dir": os.path.expanduser("~/tensorflow_datasets")}
    with pytest.raises(SystemExit, match=r"^error: the benchmark accepts only data_dir= and "
                                         r"dataset.archive=, got \['epochs'\]$"):
        measure.data_overrides(["epochs=3"], "the benchmark")


def test_the_provenance_of_a_measurement(tmp_path):
    from experiments.engine import runs
    from experiments.tools import measure

    record = measure.provenance("make bench", hardware={"label": "here"})
    assert record["command"] == "make bench" and record["hardware"] == {"label": "here"}
    assert record["git"] == runs.git_commit() and record["packages"]["larq"]
    path = tmp_path / "new" / "doc.json"
    measure.write_document(str(path), {"a": 1, **record})
    assert json.loads(path.read_text())["date"] == record["date"]


def test_reduced_size_configs_take_only_the_keys_they_need(tmp_path):
    data_dir = str(tmp_path / "tfds")  # nothing prepared: official split sizes
    exp, keys = bench.imagenet_experiment("sec53_xnornet", data_dir, 64, 32, "paper", "default")
    assert keys == {"model.fc_kernel_size": 1}  # 6x6 "valid" layer does not fit at 64 px
    assert exp.model.conv_filters == (96, 256, 384, 384, 256) and exp.dataset.image_size == 64
    exp, keys = bench.imagenet_experiment("sec53_birealnet", data_dir, 64, 32, "quick", "default")
    assert keys == {"model.filters": 16} and exp.batch_size == 32
    exp, keys = bench.imagenet_experiment("sec53_xnornet", data_dir, 224, 8, "paper", "mirrored")
    assert keys == {} and exp.model.fc_kernel_size == 6 and exp.distribution == "mirrored"


def _variant(per_round_seconds):
    """A fake variant: 2 stamps, ``per_round_seconds[r]`` wall and twice that CPU apart."""
    def fn(r):
        t = per_round_seconds[r]
        return [(0.0, 0.0), (t, 2 * t)]
    return fn


def test_paired_rounds_stop_when_the_interval_is_narrow_and_state_the_verdict():
    from experiments.tools import paired_rounds

    drift = [1.0 + 0.3 * (r % 3) for r in range(40)]  # the machine slows and recovers
    a = _variant([0.9 * d for d in drift])  # a 10 % faster than b in every round
    b = _variant(drift)
    out = paired_rounds.compare(a, b, {"a": 10, "b": 10}, names=("a", "b"), min_rounds=10,
                                max_rounds=40, extra_targets=(1.2,), log=lambda m: None)
    assert out["verdicts_by_target"]["1.2"] == {"wall": "does not hold", "cpu": "does not hold"}
    assert out["rounds"] == 10 and out["intervals_within_target"]
    assert out["ratio_wall"]["median"] == pytest.approx(1 / 0.9, rel=1e-3)
    assert out["ratio_cpu"]["low"] == pytest.approx(1 / 0.9, rel=1e-3)
    assert out["verdict_wall"] == "holds" and out["verdict_cpu"] == "holds"


def test_paired_rounds_keep_going_and_say_inconclusive_when_noise_wins():
    from experiments.tools import paired_rounds

    noisy = [0.8 if r % 2 else 1.25 for r in range(40)]  # a is faster in half the rounds
    out = paired_rounds.compare(_variant(noisy), _variant([1.0] * 40), {"a": 1, "b": 1},
                                names=("a", "b"), min_rounds=10, max_rounds=16,
                                log=lambda m: None)
    assert out["rounds"] == 16 and not out["intervals_within_target"]
    assert out["verdict_wall"] == "inconclusive"
    assert paired_rounds.verdict({"low": 0.9, "high": 0.95}, 1.0) == "does not hold"


def test_the_plain_fit_baseline_trains_with_larqs_own_bop():
    """The suite runs CountingBop; plain fit, larq's stock Bop with the same schedules."""
    import larq as lq

    from configs import EXPERIMENTS
    from experiments.engine.experiment import build
    from experiments.optimizers.bop import CountingBop
    from experiments.tools.bench import with_larqs_own_bop

    exp = build(EXPERIMENTS["sec52_bop"], {"model.filters": 2, "model.dense_units": 4})
    model = exp.build_model()
    suite, _ = exp.optimizer.build(model, steps_per_epoch=1000, epochs=500)
    plain = with_larqs_own_bop(suite)
    (ours, ours_adam), (theirs, theirs_adam) = suite.optimizers, plain.optimizers
    assert isinstance(ours, CountingBop)
    assert type(theirs) is lq.optimizers.Bop and theirs_adam is ours_adam
    for name in ("gamma", "threshold"):
        a, b = ours._get_hyper(name), theirs._get_hyper(name)
        for step in (0, 250_000, 500_000):
            assert float(b(step) if callable(b) else b) == float(a(step) if callable(a) else a)


def test_the_workers_parts_windows_alternate_and_never_overlap():
    from experiments.tools.bench_workers import _windows

    single, pinned = _windows(100.0, rounds=3, seconds=10.0, gap=1.0)
    assert single == [(100.0, 110.0), (133.0, 143.0), (144.0, 154.0)]
    assert pinned == [(111.0, 121.0), (122.0, 132.0), (155.0, 165.0)]
    spans = sorted(single + pinned)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))  # one set-up timed at a time


def test_the_workers_part_is_merged_alone(tmp_path):
    path = str(tmp_path / "bench.json")
    bench.merge_report(path, cifar10={"what": "cifar", "sec52_bop": {"x": 1}})
    out = bench.merge_report(path, workers={"cases": {"quick_float32": {"verdict": "holds"}}})
    assert out["sec52_bop"] == {"x": 1} and out["workers"]["cases"]["quick_float32"]


@pytest.mark.slow
def test_the_workers_part_times_pinned_workers_against_one_process(fake_cifar10, tmp_path):
    """The workers part end to end at tiny scale: real worker processes, two rounds."""
    from experiments.tools.bench_workers import workers_part

    args = bench.parse_args(["--smoke", "--only", "workers", "--workers", "2",
                             "--scratch", str(tmp_path)])
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    part = workers_part(args, {"data_dir": fake_cifar10[0]}, {"command": "test"})
    for name, case in part["cases"].items():
        assert len(case["single_process_images_per_s"]) == 2, name
        assert len(case["pinned_per_worker_images_per_s"]) == 2  # two workers
        assert all(len(w) == 2 and min(w) > 0 for w in case["pinned_per_worker_images_per_s"])
        ratios = [p / s for p, s in zip(case["pinned_workers_images_per_s"],
                                        case["single_process_images_per_s"])]
        assert case["ratio_pinned_over_single"]["median"] == pytest.approx(
            sum(ratios) / 2, rel=1e-2)  # the median of two rounds
        assert case["verdict"] in ("holds", "does not hold", "inconclusive")


@pytest.mark.slow
def test_the_bf16_part_compares_float32_contractions_with_both_alternatives(
        fake_cifar10, tmp_path, monkeypatch):
    """The bf16 part end to end at tiny scale, on this machine taken as one without
    bfloat16 hardware (so it measures wherever the tests run); on a machine with it, the
    part measures nothing and says why."""
    from experiments.engine import bf16
    from experiments.tools import bench_bf16

    args = bench.parse_args(["--smoke", "--only", "bf16"])
    data = {"data_dir": fake_cifar10[0], "results_dir": str(tmp_path / "runs")}
    with bf16.float32_contractions(False):
        monkeypatch.setattr(bench_bf16, "fingerprint", lambda: {"flags": ["avx2"], "gpus": []})
        part = bench_bf16.bf16_part(args, data, {"command": "test"})
        assert set(part["cases"]) == {"float32_contractions_vs_tensorflow_bf16",
                                      "float32_contractions_vs_float32"}
        assert part["matmul_rounding"]["float32_contractions"]["equal_to_nearest"] == 1.0
        for name, case in part["cases"].items():
            assert case["rounds"] == 2 and case["float32_contractions_images_per_s"] > 0, name
            assert case["ratio_wall"]["median"] > 0
        monkeypatch.setattr(bench_bf16, "fingerprint",
                            lambda: {"flags": ["avx512_bf16"], "gpus": []})
        native = bench_bf16.bf16_part(args, data, {"command": "test"})
        assert native["skipped"] and "cases" not in native


def test_the_bf16_part_is_merged_alone(tmp_path):
    path = str(tmp_path / "bench.json")
    bench.merge_report(path, workers={"cases": {"quick_float32": {}}})
    out = bench.merge_report(path, bf16={"cases": {"float32_contractions_vs_float32": {}}})
    assert out["workers"]["cases"] and out["bf16"]["cases"]


def _provenance():
    return {"command": "make bench", "hardware": {"cpu_count": 2, "label": "Some CPU · 2 cores"},
            "git": {"commit": "abcdef0123"}, "date": "2026-12-07T12:00:00"}


def _interval(median, low, high):
    return {"median": median, "low": low, "high": high}


def test_the_report_quotes_the_workers_part_with_its_machine_and_verdicts(tmp_path):
    from experiments.report.speed import workers_section

    path = str(tmp_path / "bench.json")
    assert "has not measured" in "\n".join(workers_section(path))
    case = {"experiment": "sec52_bop", "batch_size": 100, "precision": "mixed_bfloat16",
            "workers": 2, "single_process_images_per_s": [100.0, 110.0, 120.0, 130.0],
            "pinned_workers_images_per_s": [150.0, 160.0, 170.0, 180.0],
            "ratio_pinned_over_single": _interval(1.33, 1.27, 1.41), "goal": 1.25,
            "verdict": "holds"}
    bench.merge_report(path, workers={**_provenance(), "settings": {"rounds": 4, "window_s": 15},
                                      "cases": {"long_mixed_bfloat16": case}})
    text = "\n".join(workers_section(path))
    assert "commit abcdef0" in text and "2026-12-07" in text
    assert "| 115 images/s | 2 workers: 165 images/s | 1.33 [1.27, 1.41] | ≥ 1.25: **holds** |" \
        in text


def test_the_report_quotes_the_bf16_part_or_why_it_measured_nothing(tmp_path):
    from experiments.report.speed import bf16_lines

    path = str(tmp_path / "bench.json")
    assert bf16_lines(path) == []
    bench.merge_report(path, bf16={**_provenance(), "skipped": "bfloat16 is native on this machine"})
    assert "not measured, bfloat16 is native" in bf16_lines(path)[0]
    own = {"ratio_wall": _interval(9.1, 8.7, 9.4), "float32_contractions_images_per_s": 350.0,
           "tensorflow_bf16_images_per_s": 38.0, "rounds": 12}
    f32 = {"ratio_wall": _interval(0.93, 0.9, 0.96), "float32_contractions_images_per_s": 350.0,
           "float32_images_per_s": 376.0, "rounds": 10}
    rounding = {"shape": [100, 4608, 256],
                "tensorflow_bf16": {"equal_to_nearest": 0.5018, "equal_to_truncated": 1.0},
                "float32_contractions": {"equal_to_nearest": 1.0, "equal_to_truncated": 0.5018}}
    bench.merge_report(path, bf16={**_provenance(), "experiment": "sec52_bop",
                                   "overrides": {"scale": "long"}, "batch_size": 100,
                                   "matmul_rounding": rounding,
                                   "cases": {"float32_contractions_vs_tensorflow_bf16": own,
                                             "float32_contractions_vs_float32": f32}})
    text = bf16_lines(path)[0]
    assert "TensorFlow's own bfloat16 kernels = 9.10 [8.70, 9.40] (350 against 38" in text
    assert "float32 contractions / float32 = 0.93 [0.90, 0.96]" in text
    assert "100.0 % of its outputs equal the float32 sum truncated" in text
