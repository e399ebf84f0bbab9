"""Why the CNN wins: accuracy on moved, rotated, scaled and noisy test digits (curves.py), and the
studio's lab controls on one drawing (drawing.py). `from mnistlab import robustness` gives curves.py's
names."""

from mnistlab.robustness.curves import (ANGLES, DIRECTIONS, MAX_ANGLE, MAX_SHIFT, NOISE_SEED, NOISES, SCALES,
                                        SHIFTS, Robustness, affine, check_levels, measure,
                                        measure_run, noisy, robustness_table, shift)

__all__ = ["ANGLES", "DIRECTIONS", "MAX_ANGLE", "MAX_SHIFT", "NOISE_SEED", "NOISES", "SCALES", "SHIFTS",
           "Robustness", "affine", "check_levels", "measure", "measure_run", "noisy",
           "robustness_table", "shift"]
