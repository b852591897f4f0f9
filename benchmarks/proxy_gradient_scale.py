"""How much the proxy term of eq. 7 weighs against MSE in the codec's gradient.

  .venv/bin/python benchmarks/proxy_gradient_scale.py --model=mbt2018-mean-mse \
      --proxy_dirs=runs/proxies/vmaf,runs/proxies/ssim,runs/proxies/msssim

Codes one batch of training patches with an exported codec (training mode, as
in a step) and prints, for each proxy, |d MSE_255 / d x_hat|, |d L_p / d x_hat|
and the proxy term's share of the gradient, proxy_weight * |dL_p| / |dMSE|, at
--proxy_weight, plus the weight that gives each proxy the share the first one
has (the weights used for SSIM_p and MS-SSIM_p in docs/proxiqa.md).
"""

from tfpc import cli  # quiets TensorFlow

from absl import flags
import tensorflow as tf

from tfpc import data
from tfpc import losses
from tfpc import zoo

flags.DEFINE_string("model", "mbt2018-mean-mse", "Exported codec.")
flags.DEFINE_list("proxy_dirs", None, "Saved proxies.", required=True)
flags.DEFINE_string("images", "../shared/data/train-photos",
                    "Photos for the batch.")
flags.DEFINE_float("proxy_weight", 10.0, "proxy_weight of eq. 7.")
flags.DEFINE_integer("batch_size", 8, "Patches in the batch.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  codec = zoo.load_keras(FLAGS.model)
  proxies = [losses.load_proxy(d) for d in FLAGS.proxy_dirs]
  size = proxies[0].patch_size
  images = data.training_images(FLAGS.images, size)
  x = next(iter(data.patch_dataset(images, FLAGS.batch_size, size, 2 * size,
                                   seed=1)))
  x_hat = tf.clip_by_value(codec(x, training=True)["x_hat"], 0, 255)
  print(f"codec {FLAGS.model}, {FLAGS.batch_size} patches of {size}x{size}, "
        f"proxy_weight {FLAGS.proxy_weight:g}")
  print("| proxy | MSE_255 | L_p | abs dMSE | abs dL_p | share at weight | "
        "weight for the first proxy's share |")
  print("|---|---:|---:|---:|---:|---:|---:|")
  reference_share = None
  for directory, proxy in zip(FLAGS.proxy_dirs, proxies):
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(x_hat)
      mse = losses.mse_255(x, x_hat)
      proxy_loss = 100.0 - tf.reduce_mean(proxy((x, x_hat)))
    mse_grad = float(tf.norm(tape.gradient(mse, x_hat)))
    proxy_grad = float(tf.norm(tape.gradient(proxy_loss, x_hat)))
    share = FLAGS.proxy_weight * proxy_grad / mse_grad
    reference_share = reference_share or share
    print(f"| {directory} | {float(mse):.1f} | {float(proxy_loss):.1f} | "
          f"{mse_grad:.4g} | {proxy_grad:.4g} | {share:.3f} | "
          f"{FLAGS.proxy_weight * reference_share / share:.3g} |")


if __name__ == "__main__":
  cli.run(main)
