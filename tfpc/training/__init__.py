"""Training loops: custom tf.function steps, checkpoints, resume, logging."""

from tfpc.training.loop import (Network, Trainer, TrainingDivergedError,
                                restore_codec)
