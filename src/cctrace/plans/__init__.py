"""The team's own site plan: an image placed on the site by reference points.

:mod:`~cctrace.plans.georef` fits image pixels to site metres (or lat/lon),
:mod:`~cctrace.plans.images` checks uploaded files (PNG, JPEG, SVG),
:mod:`~cctrace.plans.storage` keeps the plan in the site's data folder and tells which
plan (uploaded, or declared in the site file) is in force.
"""
