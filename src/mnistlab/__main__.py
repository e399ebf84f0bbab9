"""`python -m mnistlab` runs the command line."""

from mnistlab.cli import main

main()
