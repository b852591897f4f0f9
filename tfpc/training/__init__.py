"""Training loops: custom tf.function steps, checkpoints, resume, logging."""

from tfpc.training.loop import Trainer, TrainingDivergedError, restore_codec
