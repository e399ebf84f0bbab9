"""Trained networks at work: test-set evaluation (evaluate.py), drawings and photos made into MNIST
digits (preprocess.py), the networks a server answers with (served.py) and their predictions (predict.py)."""
