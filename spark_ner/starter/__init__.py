"""Building the offline starter ensemble: corpus, ONNX conversion, training, build-models.

Uses the runtime; never imported by it or by ``spark``.
"""
