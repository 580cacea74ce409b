"""absl-flag binaries: pre-training, export, fine-tuning, probing and the demo."""
