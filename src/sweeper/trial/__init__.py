"""One trial: tokenizer, model, encoding, losses, evaluation and the HF Trainer run.

Uses torch, transformers and peft; never Ray or Optuna (it reports through an injected
`Reporter`, see sweeper.trial.reporting). Import the submodules you need: this package imports
nothing heavy by itself.
"""
