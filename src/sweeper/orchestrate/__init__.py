"""Runs a sweep: Ray Tune + searcher + convergence scheduler + the recorder that writes results."""
