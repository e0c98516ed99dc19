"""Metrics as plain functions of samples; they know nothing of training."""
