"""A sweep: its plan, its files on disk, and the loop that measures every point."""
