"""REPORT.md and the figures, from run folders and the published numbers only:
``selection`` (which runs belong to which declaration: one rule for tables and figures),
``declarations`` (what ``selection`` learns from ``configs/``, kept as plain data so that a
report from unchanged sources imports no TensorFlow, zookeeper or model code),
``tables`` (REPORT.md, ``bnn report``), ``tuned`` (the tuned comparisons', sweeps' and
horizon ladder's sections), ``cells`` (table cells) and ``figures`` (``bnn figures``).
What each section shows is declared by the registry's ``VIEWS`` (``configs/analysis.py``).
"""
