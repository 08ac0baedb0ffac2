"""The hi-moe LangGraph state machine."""
