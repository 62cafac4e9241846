"""Deploying a trained run with larq-compute-engine (``bnn export RUN_DIR``).

``restore`` rebuilds a finished run's model in float32 from its final checkpoint;
``deploy_form`` rewrites it into the form LCE converts best; ``convert`` makes the LCE and
float TFLite flatbuffers and counts their ops; ``verify`` runs the test split through the
Keras model and the LCE interpreter side by side; ``export`` writes the ``.tflite`` and the
committed deploy record (``results/deploy/<experiment>/<run-id>.json``).
"""
