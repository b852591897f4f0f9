"""DPC's synthesis against one variant, on the recipe's rate-free stage.

Usage: PYTHONPATH=. python benchmarks/dpc_synthesis_ab.py --synthesis=refined \
           --images=../shared/data/train-photos --train_dir=runs/dpc-ab-refined

Trains `configs/dpc.py`'s `mse` stage alone (rate off) for `--steps`, with the
recipe's synthesis (`paper`: 2x2 stride-2 transposed convolutions only, as DPC
section 3.1 asks) or `refined` (a 3x3 convolution after each of the last two
up-samplings, which mixes neighbouring 4x4 blocks). One thread, so two runs
side by side on 2 cores get one core each; prints the mean PSNR and bpp of the
training batches of the last 500 steps (docs/dpc.md).
"""

import importlib.util
import json
import os

from tfpc import cli  # quiets TensorFlow

from absl import app
from absl import flags
import tensorflow as tf

from tfpc.codecs import dpc
from tfpc.codecs import transforms
from tfpc.training import stages

flags.DEFINE_enum("synthesis", "paper", ["paper", "refined"], "The synthesis.")
flags.DEFINE_string("images", None, "Training images (a folder).")
flags.DEFINE_string("train_dir", None, "The run folder.")
flags.DEFINE_integer("steps", 3000, "Steps of the rate-free stage.")
flags.mark_flags_as_required(["images", "train_dir"])
FLAGS = flags.FLAGS
_RECIPE = os.path.join(os.path.dirname(__file__), "..", "configs", "dpc.py")


def refined_synthesis(num_filters, num_blocks):
  """`dpc.residual_synthesis` with a 3x3 convolution after each of its last
  two up-samplings."""
  def up(filters, index):
    return tf.keras.layers.Conv2DTranspose(filters, 2, 2, activation="relu",
                                           name=transforms.layer_name(index))
  return tf.keras.Sequential([
      up(num_filters, 0),
      *[dpc.ResidualBlock(num_filters, name=f"block_{i}")
        for i in range(num_blocks)],
      up(num_filters // 2, 1),
      tf.keras.layers.Conv2D(num_filters // 2, 3, padding="same",
                             activation="relu"),
      up(num_filters // 4, 2),
      tf.keras.layers.Conv2D(3, 3, padding="same"),
      tf.keras.layers.Rescaling(127.5, 127.5),
  ], name="synthesis")


def main(argv):
  del argv
  tf.config.threading.set_intra_op_parallelism_threads(1)
  tf.config.threading.set_inter_op_parallelism_threads(1)
  if FLAGS.synthesis == "refined":
    dpc.residual_synthesis = refined_synthesis  # what dpc.DPC builds
  spec = importlib.util.spec_from_file_location("dpc_recipe", _RECIPE)
  recipe = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(recipe)
  config = recipe.get_config()
  config.images, config.train_dir = FLAGS.images, FLAGS.train_dir
  config.stages.mse.total_steps = FLAGS.steps
  del config.stages["mse_rate"], config.stages["dpc"]
  stages.train(config)
  with open(os.path.join(FLAGS.train_dir, "mse", "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  last = [r for r in records if r["step"] > records[-1]["step"] - 500]
  print(f"{FLAGS.synthesis}: step {records[-1]['step']}, last 500 steps: "
        f"PSNR {sum(r['psnr'] for r in last) / len(last):.2f} dB, "
        f"bpp {sum(r['bpp'] for r in last) / len(last):.3f}")


if __name__ == "__main__":
  app.run(main)
