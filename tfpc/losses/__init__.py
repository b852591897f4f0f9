"""Rate-distortion(-perception) objectives, composed from terms.

An objective maps (x, codec outputs) to a dict of scalars whose `loss` entry
updates the codec; every other entry is logged. An objective that trains a
network of its own besides the codec (ProxIQA's proxy) lists it in
`auxiliary`: name -> (loss key, Keras model).
"""

from tfpc.losses.perceptual import PerceptualRateDistortion
from tfpc.losses.perceptual import vgg19_feature_distance
from tfpc.losses.proxiqa import (ProxIQA, ProxyIQANet, load_proxy,
                                 proxy_weight_from_alpha, save_proxy)
from tfpc.losses.rd import RateDistortion, mse_255, psnr_from_mse
