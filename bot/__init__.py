"""Aduan runtime: CLI, settings, composition root, runners and channel clients."""
