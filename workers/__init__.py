"""Workers: each runs one pipeline stage between transport topics (analyze, index, alert)."""
