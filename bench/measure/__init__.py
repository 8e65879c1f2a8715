"""One measured point: the workloads, the load, what is observed, and the runner that ties them."""
