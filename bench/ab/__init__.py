"""A/B benchmarks: two sides measured interleaved on one machine, decided by compare."""
