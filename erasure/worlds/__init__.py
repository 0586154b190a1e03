"""Worlds: what the workflow runs on (a base model, prompt sets and scorers)."""
