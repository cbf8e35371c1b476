"""Sweep outputs: atomic files, leaderboards, comparisons and plots."""
