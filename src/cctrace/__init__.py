"""cctrace: contact tracing over CCTV footage, private by design.

Importing this package loads no model and no heavy runtime; models load on first use.
"""

__version__ = "0.1.0"
