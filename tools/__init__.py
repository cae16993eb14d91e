"""Offline tooling, outside the runtime path: training and evaluating the sentiment model, building the IDF."""
