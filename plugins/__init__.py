"""Plugins: URL dialects and processing operations, one module each, registered on import."""
