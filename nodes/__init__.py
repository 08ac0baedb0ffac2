"""One module per tier node; each exposes `node(state, runtime) -> dict` (a partial update)."""
