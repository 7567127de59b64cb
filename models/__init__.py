"""Model families. Each registers a builder by name in training.catalogue."""
