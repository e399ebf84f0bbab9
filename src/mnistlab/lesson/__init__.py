"""The whole lesson, `mnistlab run`: both networks trained, compared and reported (run.py), and the
command line's text tables (tables.py)."""

from mnistlab.lesson.run import EXPERIMENTS, MAX_SEEDS, Lesson, run_lesson

__all__ = ["EXPERIMENTS", "MAX_SEEDS", "Lesson", "run_lesson"]
