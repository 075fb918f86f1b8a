"""keras_lmk: road landmark detection with class-specific reference points."""

__version__ = "0.1.0"
