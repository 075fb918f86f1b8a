"""The accuracy peer (issue 35): a standard small detector, YOLOv8n, trained from scratch on our data.

KerasCV's ``YOLOV8Detector`` (keras-cv 0.9.0, Keras 3 / TensorFlow like the product; KerasHub has no YOLOv8)
with the YOLOv8n widths and depths, random initialisation. It trains on exactly our training records and
augmentation (``keras_lmk.data.sources.load_training_records`` and the pipeline steps of the ``real``
preset, boxes instead of grid targets), is evaluated on our fixed validation splits with our metrics
(``keras_lmk.evaluation.metrics.PointEvaluator`` and ``bench_real.source_row``), its reference point taken
from its box by the taxonomy's rule, and measured for size and latency like ``bench_speed.py``.

- ``model``: the detector, its fixed-size export twin, and the numpy decoder (boxes -> points);
- ``data``: our training pipeline's examples as YOLOv8 box targets;
- ``train``: the resumable training loop (a run directory outside the repository), the per-step CPU cost;
- ``evaluate``: per-source accuracy with our metric code; ``speed``: parameters, MACs, int8 size, latency;
- ``report``: the table beside ours.

CLI and commands: ``benchmarks/bench_peer.py``; the choice and the rules: docs/peer.md.
"""
