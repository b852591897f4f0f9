"""Training loops: custom tf.function steps, checkpoints, resume, logging."""

from tfpc.training.loop import Network, Trainer, TrainingDivergedError
from tfpc.training.run_folder import restore_codec
