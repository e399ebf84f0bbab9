"""The analysis report: saved runs of both networks turned into report/index.html and report.md with
PNG figures beside them, in English or Spanish. build.py picks the runs and writes the folder,
sections.py says what is in it, analysis.py writes deliverable 2, figures.py draws, render.py lays out."""

from mnistlab.report.build import build_report

__all__ = ["build_report"]
