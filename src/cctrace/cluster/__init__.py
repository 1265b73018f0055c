"""Running cctrace's work on a cluster (optional: ``pip install 'cctrace[cluster]'``).

:mod:`cctrace.cluster.ray_ingest` runs ``cctrace ingest --ray`` (or ``ingest.engine: ray``)
on a Ray cluster with the same code as the local path. Nothing here imports Ray until
the Ray path is taken; the default path needs none of it.
"""
