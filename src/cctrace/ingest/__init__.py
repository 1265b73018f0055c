"""Ingest: footage of many cameras in, tracklets, faces and encounters stored."""
