"""Thin shells that plug the convergence rules into Ray Tune and Optuna; each imports its framework lazily."""
