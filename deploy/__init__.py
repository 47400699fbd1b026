"""The application layer: a trained checkpoint as predictions (predictor.py) and the input preparation it
and exported files share (preprocessing.py). Used by app.py and tools/export.py."""
