"""The chat casts' shared parts: the chat model and its node, tool errors, background formation."""
