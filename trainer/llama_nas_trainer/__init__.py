"""LLaMA-NAS trainer: an elastic LLaMA in PyTorch, HF folder I/O, pretraining and InstaTune fine-tuning."""
