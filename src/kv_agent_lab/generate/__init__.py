"""Workload generators: synthetic agent text and request shapes."""
