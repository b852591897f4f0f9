"""ProxIQA: proxy network, eq. 6-8, alternating updates, recipes, binaries."""

import glob
import json
import os
import runpy
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from conftest import BIN, REPO, run_cli
from tfpc import cli
from tfpc import codecs
from tfpc import data
from tfpc import errors
from tfpc import families
from tfpc import losses
from tfpc import training
from tfpc.evaluation import plots
from tfpc.training import proxy_pretrain
from tfpc.training import recipe
from tfpc.training import run_folder

REQUIRED_LOG_KEYS = ("step", "loss", "bpp", "mse", "psnr", "metric_true_mean",
                     "metric_true_std", "metric_proxy_mean",
                     "metric_proxy_std")
TINY_RUN = ("--images=skimage", "--architecture=bls2017", "--num_filters=4",
            "--objective=vmafp", "--patch_size=32", "--crop_size=64",
            "--batch_size=2", "--learning_rate=1e-3", "--final_steps=0",
            "--log_every=1")


def patches(photo, size=32, count=4):
  return tf.constant(np.stack([photo[i * size:(i + 1) * size, :size]
                               for i in range(count)]), tf.float32)


def constant_metric(value):
  return lambda x, x_hat: tf.fill(tf.shape(x)[:1], value)


def test_proxy_network_is_the_papers_figure_3():
  proxy = losses.ProxyIQANet("vmaf", 64)
  kernels = [v.shape.as_list() for v in proxy.trainable_variables
             if "kernel" in v.name]
  assert kernels == [[5, 5, 6, 16], [5, 5, 16, 32], [5, 5, 32, 64],
                     [8 * 8 * 64, 1]]
  assert proxy.count_params() == (2400 + 16) + (12800 + 32) + (51200 + 64) + \
      (4096 + 1)
  x = tf.random.uniform((3, 64, 64, 3), 0, 255)
  assert proxy((x, x)).shape == (3,)
  with pytest.raises(ValueError, match="64x64 patches"):
    proxy((x[:, :32, :32], x[:, :32, :32]))
  with pytest.raises(ValueError, match="no proxy for metric"):
    losses.ProxyIQANet("psnr")


def test_proxy_save_and_load(tmp_path, photo):
  proxy = losses.ProxyIQANet("ssim", 32)
  x = patches(photo)
  losses.save_proxy(proxy, str(tmp_path), note="test")
  loaded = losses.load_proxy(str(tmp_path), "ssim", 32)
  np.testing.assert_array_equal(proxy((x, x)).numpy(), loaded((x, x)).numpy())
  with pytest.raises(errors.ModelError, match="metric is 'ssim'"):
    losses.load_proxy(str(tmp_path), "vmaf")
  with pytest.raises(errors.ModelError, match="patch_size"):
    losses.load_proxy(str(tmp_path), patch_size=64)
  (tmp_path / losses.proxiqa.PROXY_WEIGHTS).write_bytes(b"not hdf5")
  with pytest.raises(errors.ModelError, match="unreadable proxy weights"):
    losses.load_proxy(str(tmp_path))
  with pytest.raises(errors.ModelError, match="not a saved proxy"):
    losses.load_proxy(str(tmp_path / "missing"))


def test_objective_is_equations_6_to_8(photo):
  """Eq. 7 as lmbda * (MSE_255 + proxy_weight * L_p) + bpp."""
  x = patches(photo)
  x_hat = x + tf.random.stateless_uniform(x.shape, (1, 2), -20, 20)
  proxy = losses.ProxyIQANet("vmaf", 32)
  objective = losses.ProxIQA(proxy, lmbda=0.02, proxy_weight=7.5,
                             true_metric=constant_metric(70.0))
  terms = objective(x, {"x_hat": x_hat, "bpp": tf.constant(0.5)})
  predicted = proxy((x, tf.clip_by_value(x_hat, 0, 255))).numpy()
  mse = np.mean((x.numpy() - x_hat.numpy()) ** 2)
  expected = 0.02 * (mse + 7.5 * (100 - predicted.mean())) + 0.5
  np.testing.assert_allclose(terms["loss"], expected, rtol=1e-5)
  np.testing.assert_allclose(terms["metric_loss"],
                             np.mean((predicted - 70.0) ** 2), rtol=1e-5)
  np.testing.assert_allclose(terms["metric_proxy_mean"], predicted.mean(),
                             rtol=1e-5)
  assert float(terms["metric_true_mean"]) == 70.0
  assert float(terms["metric_true_std"]) == 0.0


def test_alpha_converts_to_proxy_weight_for_its_pixel_scale():
  assert losses.proxy_weight_from_alpha(1.54e-3) == pytest.approx(100.30, 1e-3)
  assert losses.proxy_weight_from_alpha(1.54e-3, 255.0) == pytest.approx(
      1.54e-3 / (1 - 1.54e-3))
  assert losses.proxy_weight_from_alpha(0.0) == 0.0
  with pytest.raises(ValueError, match="alpha"):
    losses.proxy_weight_from_alpha(1.0)


def test_recipe_weighting_gives_the_documented_gradient_ratio(photo):
  """On a fixed batch the codec's gradient is lmbda * (dMSE + w * dL_p), so
  the proxy term's share of it is w * |dL_p| / |dMSE| (docs/proxiqa.md)."""
  options = runpy.run_path(os.path.join(REPO, "configs", "proxiqa.py"))[
      "get_config"]("bls2017-mse,only=vmafp").stages.vmafp.options.to_dict()
  options.update(patch_size=32)
  vmafp = losses.OBJECTIVES["vmafp"]
  assert vmafp(None, **options).proxy_weight == 10.0
  assert vmafp(None, **options, alpha=1.54e-3).proxy_weight == pytest.approx(
      100.30, 1e-3)
  tf.keras.utils.set_random_seed(3)
  x = patches(photo)
  x_hat = tf.Variable(x + tf.random.stateless_uniform(x.shape, (4, 5), -9, 9))
  objective = vmafp(None, **options)
  objective.true_metric = constant_metric(70.0)
  with tf.GradientTape(persistent=True) as tape:
    terms = objective(x, {"x_hat": x_hat, "bpp": tf.constant(0.0)})
  total, mse, proxy_term = (tape.gradient(terms[k], x_hat)
                            for k in ("loss", "mse", "proxy_loss"))
  np.testing.assert_allclose(total, 0.0035 * (mse + 10.0 * proxy_term),
                             rtol=1e-4, atol=1e-9)
  ratio = 10.0 * tf.norm(proxy_term) / tf.norm(mse)
  share = tf.norm(total - 0.0035 * mse) / tf.norm(0.0035 * mse)
  np.testing.assert_allclose(share, ratio, rtol=1e-4)
  assert 0.0 < float(ratio) < 100.0


def test_protocol_trains_vmaf_direct_from_the_mse_start_at_equal_budget():
  """bls2017-vmafd is a stage of the bls2017 protocol beside `mse` and
  `vmafp`: same start, steps and learning rate, VMAF in TF ops, no proxy."""
  config = runpy.run_path(os.path.join(REPO, "configs", "proxiqa.py"))[
      "get_config"]("bls2017-mse,lmbda=0.018,only=vmafp+vmaf_direct")
  assert sorted(config.stages) == ["mse", "start", "vmaf_direct", "vmafp"]
  stages = {name: config.stages[name].to_dict() for name in config.stages}
  direct, proxy, control = (stages[n] for n in ("vmaf_direct", "vmafp", "mse"))
  budget = ("start_from", "total_steps", "learning_rate",
            "final_learning_rate", "weight_decay")
  assert ([direct[k] for k in budget] == [proxy[k] for k in budget] ==
          [control[k] for k in budget] == ["start", 200, 1e-4, 1e-4, 0.01])
  assert (direct["objective"], direct["options"]) == (
      "vmaf_direct", {"lmbda": 0.018, "vmaf_weight": 10.0})
  assert "networks" not in direct and "proxy" in proxy["networks"]
  assert config.init_from == "bls2017-mse-l0.018"
  objective = losses.OBJECTIVES["vmaf_direct"](None, **direct["options"])
  assert (objective.lmbda, objective.vmaf_weight) == (0.018, 10.0)
  family, name = families.family_of(config.codec.to_dict(), "vmaf_direct",
                                    direct["options"])
  assert (family.name, name) == ("bls2017-vmafd", "bls2017-vmafd-l0.018")


def test_a_family_may_size_its_codec_by_rate():
  family = families.get("mbt2018-mean-mse")
  wide, narrow = family.codec_at(0.05), family.codec_at(0.0035)
  assert (wide["latent_channels"], narrow["latent_channels"]) == (192, 64)
  assert {k: v for k, v in wide.items() if k != "latent_channels"} == {
      k: v for k, v in narrow.items() if k != "latent_channels"}
  assert families.family_of(wide, "rd", {"lmbda": 0.05}) == (
      family, "mbt2018-mean-mse-l0.05")
  # A run's codec must be the one of its rate: narrow at 0.05 is no family's.
  assert families.family_of(narrow, "rd", {"lmbda": 0.05}) == (None, None)
  config = runpy.run_path(os.path.join(REPO, "configs", "proxiqa.py"))[
      "get_config"]("mbt2018-mean-mse,lmbda=0.018")
  assert config.codec.to_dict() == wide


def test_true_scores_are_the_metric_of_the_coded_images(photo):
  x = patches(photo)
  x_hat = x + 7.3
  scores = losses.proxiqa.true_scores("ssim", x, x_hat).numpy()
  expected = 100 * tf.image.ssim(x, tf.clip_by_value(tf.round(x_hat), 0, 255),
                                 255.0, filter_size=11).numpy()
  np.testing.assert_allclose(scores, expected, rtol=1e-5)
  vmaf_scores = losses.proxiqa.true_scores("vmaf", x, x_hat).numpy()
  from tfpc import metrics  # pylint: disable=g-import-not-at-top
  np.testing.assert_allclose(
      vmaf_scores, metrics.vmaf(x.numpy().astype(np.uint8),
                                np.clip(np.round(x.numpy() + 7.3), 0,
                                        255).astype(np.uint8)), atol=1e-3)


def _trainer(tmp_path, objective, **options):
  codec = codecs.build_codec({"architecture": "bls2017", "num_filters": 4})
  return codec, training.Trainer(codec, objective, str(tmp_path),
                                 learning_rate=1e-3, **options)


def _values(network):
  return [v.numpy().copy() for v in network.trainable_variables]


def _changed(before, network):
  return any(not np.array_equal(b, v.numpy())
             for b, v in zip(before, network.trainable_variables))


@pytest.mark.parametrize("train_proxy", [True, False])
def test_alternating_updates_both_networks_fixed_mode_only_the_codec(
    tmp_path, photo, train_proxy):
  proxy = losses.ProxyIQANet("vmaf", 32)
  objective = losses.ProxIQA(proxy, 0.01, train_proxy=train_proxy)
  codec, trainer = _trainer(tmp_path, objective)
  codec_before, proxy_before = _values(codec), _values(proxy)
  terms, applied = trainer.train_step(patches(photo))
  assert bool(applied["codec"]) and _changed(codec_before, codec)
  assert _changed(proxy_before, proxy) == train_proxy
  assert set(applied) == ({"codec", "proxy"} if train_proxy else {"codec"})
  assert 0 <= float(terms["metric_true_mean"]) <= 100


def test_proxy_learns_to_track_the_true_metric(tmp_path, photo):
  """With the codec's output scored by SSIM, eq. 8 pulls the proxy onto it."""
  tf.keras.utils.set_random_seed(0)  # not the state earlier tests left
  proxy = losses.ProxyIQANet("ssim", 32)
  _, trainer = _trainer(tmp_path, losses.ProxIQA(proxy, 0.01),
                        total_steps=120, log_every=20, weight_decay=0.0)
  trainer.run(data.patch_dataset([photo], batch_size=4, patch_size=32,
                                 crop_size=64, seed=0))
  log = plots.read_metrics_log(str(tmp_path))
  first, last = log[0], log[-1]
  assert last["metric_loss"] < first["metric_loss"] / 4
  gap = abs(last["metric_true_mean"] - last["metric_proxy_mean"])
  assert gap < abs(first["metric_true_mean"] - first["metric_proxy_mean"])
  assert gap < 10


def test_failed_true_metric_skips_proxy_update_then_stops(tmp_path, photo):
  proxy = losses.ProxyIQANet("vmaf", 32)
  objective = losses.ProxIQA(proxy, 0.01,
                             true_metric=constant_metric(float("nan")))
  codec, trainer = _trainer(tmp_path, objective, total_steps=50, log_every=1,
                            max_nonfinite_steps=3)
  proxy_before = _values(proxy)
  with pytest.raises(training.TrainingDivergedError,
                     match="3 consecutive non-finite proxy updates"):
    trainer.run(data.patch_dataset([photo], batch_size=2, patch_size=32,
                                   crop_size=64, seed=0))
  assert not _changed(proxy_before, proxy)
  log = plots.read_metrics_log(str(tmp_path))
  assert [r["step"] for r in log] == [1, 2]  # the codec still trained
  assert all(r["proxy_skipped"] == 1 and r["codec_skipped"] == 0 for r in log)
  assert all(np.isfinite(r["loss"]) for r in log)


def _parse_recipe(path):
  values = flags.FlagValues()
  cli.define_flags(recipe.TrainConfig, values)
  values(["tfpc_train", f"--flagfile={path}", "--images=x", "--train_dir=y"])
  return cli.config_from_flags(recipe.TrainConfig, values)


def test_every_recipe_is_valid():
  paths = sorted(glob.glob(os.path.join(REPO, "configs", "*.flags")))
  names = {os.path.basename(p)[:-len(".flags")] for p in paths}
  paper = {"bls_mse", "bls_vmafp", "bls_ssimp", "bls_msssimp", "bmshj_mse",
           "bmshj_vmafp"}
  assert paper | {"demo"} <= names
  for path in paths:
    config = _parse_recipe(path)
    config.check()
    assert config.architecture in codecs.CODECS
    name = os.path.basename(path)
    if name[:-len(".flags")] in paper:  # the paper's settings
      assert (config.num_filters, config.learning_rate, config.total_steps,
              config.final_steps, config.weight_decay, config.batch_size,
              config.patch_size) == (192, 1e-4, 2_100_000, 100_000, 0.01, 8,
                                     128)
      assert config.objective == name.split("_")[1][:-len(".flags")]
  vmafp = _parse_recipe(os.path.join(REPO, "configs", "bls_vmafp.flags"))
  assert (vmafp.proxy_weight, vmafp.alpha, vmafp.m_max, vmafp.proxy_mode) == (
      10.0, None, 100.0, "alternating")


def test_config_errors_are_one_line(tmp_path):
  result = run_cli("tfpc_train", "--images=skimage",
                   f"--train_dir={tmp_path}/run", "--objective=vmafp",
                   "--proxy_mode=pretrained_fixed")
  assert result.returncode == 2
  assert result.stderr.strip() == ("tfpc_train: error: proxy_mode="
                                   "pretrained_fixed needs proxy_init")
  result = run_cli("tfpc_train", "--images=skimage",
                   f"--train_dir={tmp_path}/run", "--objective=vmafp",
                   f"--proxy_init={tmp_path}/nothing")
  assert result.returncode == 2 and "not a saved proxy" in result.stderr


def _log(train_dir):
  return plots.read_metrics_log(train_dir)


def test_tfpc_train_killed_and_resumed(tmp_path):
  """A real run is SIGKILLed, rerun with the same flags, and continues."""
  train_dir = str(tmp_path / "run")
  command = [os.path.join(BIN, "tfpc_train"), *TINY_RUN,
             f"--train_dir={train_dir}", "--checkpoint_every=4"]
  process = subprocess.Popen(command + ["--total_steps=1000"],
                             stderr=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL)
  deadline = time.time() + 240
  while time.time() < deadline and process.poll() is None:
    if (os.path.exists(os.path.join(train_dir, "metrics.jsonl")) and
        len(_log(train_dir)) >= 10):
      break
    time.sleep(0.5)
  process.send_signal(signal.SIGKILL)
  process.wait()
  log = _log(train_dir)
  assert all(key in log[0] for key in REQUIRED_LOG_KEYS)
  saved = int(tf.train.latest_checkpoint(train_dir).rsplit("-", 1)[1])
  # the kill may land just after a checkpoint: steps logged past it, if
  # any, are redone on resume
  assert saved >= 4 and log[-1]["step"] >= saved
  result = subprocess.run(command + [f"--total_steps={saved + 3}"],
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert f"step {saved + 3}" in result.stdout
  log = _log(train_dir)
  assert [r["step"] for r in log] == list(range(1, saved + 4))
  # CPU time accumulates across the kill: the resumed records count on from
  # the last record kept, not from zero
  cpu = [r["cpu_seconds"] for r in log]
  assert cpu == sorted(cpu) and cpu[saved] > cpu[saved - 1] > 0
  # the proxy was checkpointed with the codec: it resumed, not restarted
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(train_dir))
  assert any(name.startswith("proxy/") for name in
             reader.get_variable_to_shape_map())
  # changing the recipe of an existing run is refused
  result = run_cli("tfpc_train", *TINY_RUN, f"--train_dir={train_dir}",
                   "--num_filters=8")
  assert result.returncode == 2
  assert "was started with other settings: num_filters=4" in result.stderr


def test_a_signal_saves_and_ends_with_the_resumable_status(tmp_path):
  train_dir = str(tmp_path / "run")
  process = subprocess.Popen(
      [os.path.join(BIN, "tfpc_train"), *TINY_RUN, "--objective=mse",
       f"--train_dir={train_dir}", "--total_steps=100000"],
      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
  deadline = time.time() + 240
  while time.time() < deadline and not (
      os.path.exists(os.path.join(train_dir, "metrics.jsonl")) and
      len(_log(train_dir)) >= 3):
    time.sleep(0.2)
  process.send_signal(signal.SIGINT)
  stdout, _ = process.communicate(timeout=120)
  assert process.returncode == errors.STOPPED
  step = run_folder.trained_steps(train_dir)
  assert step >= 3 and f"step {step} of 100000 (stopped; rerun" in stdout


def test_numbers_no_flat_run_can_use_are_refused_by_their_flag_names():
  config = recipe.TrainConfig(train_dir="run", images="skimage",
                              lmbda=float("nan"), total_steps=-1)
  with pytest.raises(errors.ConfigError) as raised:
    config.check()
  assert str(raised.value) == ("total_steps must not be negative, got -1; "
                               "lmbda must be a finite number, got nan")


def test_run_folder_failures_are_one_line_and_do_not_block_a_rerun(tmp_path):
  train_dir = str(tmp_path / "run")
  tiny = (*TINY_RUN, "--objective=mse", f"--train_dir={train_dir}",
          "--total_steps=1")
  failed = run_cli("tfpc_train", *tiny, "--architecture=nope")
  assert failed.returncode == 2
  assert "architecture must be one of" in failed.stderr
  result = run_cli("tfpc_train", *tiny)
  assert result.returncode == 0, result.stderr[-2000:]
  assert run_folder.read_settings(train_dir)["architecture"] == "bls2017"
  assert run_folder.trained_steps(train_dir) == 1
  (tmp_path / "file").write_text("")
  for folder in (tmp_path / "file", tmp_path / "file" / "run"):
    with pytest.raises(errors.ConfigError, match="cannot make the run folder"):
      run_folder.record_settings(str(folder), {}, ())


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
  train_dir = str(tmp_path / "mirrored")
  result = run_cli("tfpc_train", *TINY_RUN, f"--train_dir={train_dir}",
                   "--total_steps=3", "--strategy=mirrored",
                   "--cpu_devices=2")
  assert result.returncode == 0, result.stderr[-2000:]
  log = _log(train_dir)
  assert [r["step"] for r in log] == [1, 2, 3]
  for record in log:
    assert record["replicas"] == 2
    assert all(np.isfinite(record[k]) for k in REQUIRED_LOG_KEYS)
    assert record["proxy_skipped"] == 0 and record["codec_skipped"] == 0
  codec, step = training.restore_codec(train_dir)
  assert step == 3 and codec.get_config()["num_filters"] == 4


def test_proxy_pretraining_end_to_end(tmp_path, photo):
  # stronger distortion, lower score
  patch = photo[100:164, 100:164]
  for kind in proxy_pretrain.DISTORTIONS[:-1]:
    mild = proxy_pretrain.distort(patch, kind, 0.1)
    strong = proxy_pretrain.distort(patch, kind, 0.9)
    assert mild.shape == patch.shape and mild.dtype == np.uint8
    from tfpc import metrics  # pylint: disable=g-import-not-at-top
    assert metrics.compute("psnr", patch, strong) < \
        metrics.compute("psnr", patch, mild), kind
  config = proxy_pretrain.PretrainConfig(
      output_dir=str(tmp_path), images="skimage", metric="ssim",
      patch_size=32, num_patches=64, epochs=2, batch_size=16)
  result = proxy_pretrain.pretrain(config)
  assert result["held_out"] == 6 and -1 <= result["srocc"] <= 1
  assert result["rmse"] > 0
  with open(tmp_path / proxy_pretrain.STATS_FILE) as f:
    assert json.load(f)["rmse"] == result["rmse"]
  assert (tmp_path / proxy_pretrain.SCATTER_FILE).read_bytes()[:8] == \
      b"\x89PNG\r\n\x1a\n"
  proxy = losses.load_proxy(str(tmp_path), "ssim", 32)
  assert json.loads((tmp_path / "proxy.json").read_text())["epochs_done"] == 2
  assert proxy.patch_size == 32


def test_score_plot_from_logs(tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  (run / "recipe.json").write_text(json.dumps({"objective": "vmafp"}))
  records = [{"step": s, "metric_true_mean": 50 + s, "metric_true_std": 3,
              "metric_proxy_mean": 60 + s, "metric_proxy_std": 2}
             for s in (10, 20, 30)]
  (run / "metrics.jsonl").write_text(
      "".join(json.dumps(r) + "\n" for r in records) + '{"step": 4')
  output = tmp_path / "fig.png"
  result = run_cli("tfpc_plot_scores", f"--train_dirs={run},{run}",
                   "--labels=a,b", f"--output={output}")
  assert result.returncode == 0, result.stderr
  assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  (run / "metrics.jsonl").write_text('{"step": 1, "loss": 2}\n')
  with pytest.raises(errors.ConfigError, match="no proxy scores"):
    plots.scores_over_training([("x", plots.read_metrics_log(str(run)))],
                               str(output))


def test_proxy_gap_guard_trips_only_on_a_lasting_gap():
  objective = losses.ProxIQA(losses.ProxyIQANet("vmaf", 32), 0.01,
                             gap_threshold=10.0, gap_patience=100)
  records = [{"step": s, "metric_true_mean": 60.0,
              "metric_proxy_mean": 60.0 + gap}
             for s, gap in ((20, 30.0), (40, 0.0), (60, 0.0), (80, 0.0),
                            (100, 0.0), (120, 0.0), (140, 40.0), (160, 40.0),
                            (200, 40.0), (240, 40.0))]
  flagged = []
  for record in records:
    objective.on_log(record)
    flagged.append(record["proxy_exploited"])
  # A short burst (step 20) decays below the threshold by step 120; the gap
  # from step 140 on trips the guard once it has lasted 100 steps.
  assert flagged == [False] * 9 + [True]
  assert records[0]["proxy_gap"] == 30.0
  assert objective.on_log({"step": 240}) is None  # no true score: no-op
