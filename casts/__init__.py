"""Memory casts: LangGraph agents with cross-thread memory through the Store."""
