"""Training, evaluation, datasets and metrics for VATEX (imports vatex_core, never the reverse)."""
