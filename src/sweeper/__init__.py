"""sweeper: LoRA hyperparameter sweeps judged by the shape of raw loss curves."""
