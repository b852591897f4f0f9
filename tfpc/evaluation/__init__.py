"""Evaluation: conventional codecs, rate-distortion points, comparisons."""
