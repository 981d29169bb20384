"""Measuring recall on LoCoMo-format conversations (``memory-casts eval recall``)."""
