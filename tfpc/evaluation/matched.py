"""A codec's quality at a given rate: a bisection over its settings for the
two whose rates bracket the rate, and linear interpolation in bpp between
them (clamped at the ends of the settings' range)."""


def bracket(rate_of, target_bpp, settings):
  """The neighbours (low, high) of `settings` (ordered by rising rate) with
  rate_of(low) <= target_bpp < rate_of(high).

  `low` is None when even the first setting's rate is above the target,
  `high` None when the last one's is not above it. Calls `rate_of` about
  log2(len(settings)) times.
  """
  low, high = -1, len(settings)
  while high - low > 1:
    middle = (low + high) // 2
    if rate_of(settings[middle]) <= target_bpp:
      low = middle
    else:
      high = middle
  return (settings[low] if low >= 0 else None,
          settings[high] if high < len(settings) else None)


def interpolate(target_bpp, low, high):
  """The value at `target_bpp` on the segment between the points `low` and
  `high`, each (bpp, value) or None; clamped to the nearer point outside it
  and to the one point given when the other is None."""
  if low is None or high is None:
    return (high if low is None else low)[1]
  (r0, v0), (r1, v1) = low, high
  t = min(max((target_bpp - r0) / (r1 - r0), 0.0), 1.0) if r1 != r0 else 0.0
  return v0 + t * (v1 - v0)
