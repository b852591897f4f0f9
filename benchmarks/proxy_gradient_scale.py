"""How much the proxy term of eq. 7 weighs against MSE, on each MSE scale.

Usage: .venv/bin/python benchmarks/proxy_gradient_scale.py
           --train_dir=runs/x --proxy_dir=proxies/vmaf --images=photos/
Takes a trained codec and a proxy, runs one batch of training patches, and
prints the norms of d(MSE)/d(x_hat) and d(L_p)/d(x_hat), then the ratio of the
weighted gradients alpha * L_p : (1 - alpha) * L_d when L_d is the MSE of
images in [0, 255] and when it is the MSE of images in [0, 1].
"""

from tfpc import cli  # quiets TensorFlow

from absl import flags
import tensorflow as tf

from tfpc import data
from tfpc import losses
from tfpc import training
from tfpc.training import recipe

flags.DEFINE_string("train_dir", None, "Training run of the codec.",
                    required=True)
flags.DEFINE_string("proxy_dir", None, "Saved proxy.", required=True)
flags.DEFINE_string("images", "skimage", "Photos for the batch.")
flags.DEFINE_float("alpha", 1.54e-3, "alpha of eq. 7.")
flags.DEFINE_integer("batch_size", 8, "Patches in the batch.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  codec, step = training.restore_codec(FLAGS.train_dir)
  proxy = losses.load_proxy(FLAGS.proxy_dir)
  images = recipe.training_images(FLAGS.images, proxy.patch_size)
  x = next(iter(data.patch_dataset(images, FLAGS.batch_size, proxy.patch_size,
                                   2 * proxy.patch_size, seed=1)))
  x_hat = tf.clip_by_value(codec(x, training=True)["x_hat"], 0, 255)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x_hat)
    mse = tf.reduce_mean(tf.square(x - x_hat))
    proxy_loss = 100.0 - tf.reduce_mean(proxy((x, x_hat)))
  mse_grad = float(tf.norm(tape.gradient(mse, x_hat)))
  proxy_grad = float(tf.norm(tape.gradient(proxy_loss, x_hat)))
  alpha = FLAGS.alpha
  print(f"codec {FLAGS.train_dir} (step {step}), proxy {FLAGS.proxy_dir}")
  print(f"MSE [0,255] {float(mse):.1f}   L_p {float(proxy_loss):.1f}")
  print(f"|dMSE/dx_hat| {mse_grad:.4g}   |dL_p/dx_hat| {proxy_grad:.4g}")
  for scale, name in ((1.0, "[0, 255]"), (255.0**-2, "[0, 1]")):
    ratio = alpha * proxy_grad / ((1 - alpha) * scale * mse_grad)
    print(f"L_d on {name:>8}: alpha*L_p gradient / (1-alpha)*L_d gradient "
          f"= {ratio:.4g}")


if __name__ == "__main__":
  cli.run(main)
