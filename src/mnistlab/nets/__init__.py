"""The networks: the practice's two and the registry (models.py), each described layer by layer
(layers.py), and what every layer makes of one image (inside.py)."""
