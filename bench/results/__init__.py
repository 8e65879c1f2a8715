"""The result documents: their typed schema and how they are written and read."""
