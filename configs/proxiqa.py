r"""Staged recipe: the equal-budget ProxIQA protocol at one rate (docs/proxiqa.md).

For one lambda, every family of `tfpc.families` on the same codec as the
named MSE family (e.g. mbt2018-mean: mbt2018-mean-mse, -vmafp) gets
a stage, and all of them start from the same stage `start` (the MSE start):
the MSE control (stage `mse`) and each perceptual family (stage named after
its objective: ProxIQA's `vmafp`, ... with a proxy each, and `vmaf_direct`,
through VMAF in TF ops, no proxy) then train the same steps at the same
learning rate, so gains come from the objective, not from extra training.
`start` copies `init_from` (default: the MSE family's exported model at this
lambda) and trains it `start_steps` more (0: a copy; use 1000 to move a model
to a new lambda).

The argument is `FAMILY[,lmbda=L][,only=OBJ+OBJ][,start_steps=N]
[,proxies=DIR]`: FAMILY an MSE family of the table, `only` a subset of the
perceptual objectives, `proxies` a folder of pre-trained proxies, one per
metric (made once by tfpc_pretrain_proxy; default: fresh proxies). CPU
scale: 200 steps of 8x128x128 per stage (2-5 min each on 2 cores):

  tfpc_train --config=configs/proxiqa.py:mbt2018-mean-mse,only=vmafp --config.images=../shared/data/train-photos --config.train_dir=runs/proxiqa/mbt2018-l0.0035

The shipped families were trained from pre-trained proxies (add
`,proxies=runs/proxies` to the argument), made once per metric by

  tfpc_pretrain_proxy --images=../shared/data/train-photos --metric=vmaf --codec_model=mbt2018-mean-mse --output_dir=runs/proxies/vmaf

(the shipped ones' proxy: on the outputs of bls2017-mse, docs/proxiqa.md).
Then `tfpc_export --train_dir=runs/proxiqa/mbt2018-l0.0035/vmafp` exports a
stage under its family's model name (here mbt2018-mean-vmafp) with a
description of how it was made. The BLS2017 and BMSHJ2018 families (bls2017-mse,
...) are recipes too; most of their models left saved_models/ (docs/models.md).
"""

import ml_collections

from tfpc import families
from tfpc import losses

STAGE = {"learning_rate": 1e-4, "final_learning_rate": 1e-4,
         "final_steps": 0, "total_steps": 200, "weight_decay": 0.01,
         "log_every": 20, "checkpoint_every": 50}


def parse(arg):
  """{family, lmbda, only, start_steps, proxies} of the recipe argument."""
  name, *items = (arg or "mbt2018-mean-mse").split(",")
  settings = {"family": name, "lmbda": families.DEFAULT_LMBDA, "only": "",
              "start_steps": 0, "proxies": ""}
  for item in items:
    key, _, value = item.partition("=")
    if key not in settings or key == "family":
      raise ValueError(f"unknown setting {key!r}; known: lmbda, only, "
                       "start_steps, proxies")
    settings[key] = type(settings[key])(value)
  return settings


def get_config(arg=None):
  settings = parse(arg)
  control = families.get(settings["family"])
  lmbda = settings["lmbda"]
  wanted = set(filter(None, settings["only"].split("+")))
  perceptual = [f for f in families.FAMILIES.values()
                if f.codec == control.codec and f.objective != "rd" and
                (not wanted or f.objective in wanted)]
  config = ml_collections.ConfigDict()
  config.train_dir = ""
  config.images = ""
  config.init_from = control.model_name(lmbda)
  config.codec = control.codec_at(lmbda)
  config.data = ml_collections.ConfigDict(
      {"batch_size": 8, "patch_size": 128, "crop_size": 256, "seed": 0})
  patch_size = config.data.get_ref("patch_size")  # the proxies' follows it
  config.stages = ml_collections.ConfigDict()
  config.stages.start = {**STAGE, "objective": "rd",
                         "options": {"lmbda": lmbda},
                         "total_steps": settings["start_steps"],
                         "learning_rate": 1e-3, "final_learning_rate": 1e-4,
                         "final_steps": settings["start_steps"] // 5}
  config.stages.mse = {**STAGE, "start_from": "start", "objective": "rd",
                       "options": {"lmbda": lmbda}}
  for family in perceptual:
    options = {"lmbda": lmbda, **family.options}
    stage = {**STAGE, "start_from": "start", "objective": family.objective,
             "options": options}
    metric = losses.proxy_metric(family.objective)
    if metric:  # ProxIQA: a proxy trained alternately with the codec
      options.update(patch_size=patch_size, proxy_init=(
          f"{settings['proxies']}/{metric}" if settings["proxies"] else ""))
      stage["networks"] = {"codec": {}, "proxy": {"learning_rate": 1e-3}}
    config.stages[family.objective] = stage
  return config
