"""tunesmith worker: the torch-free job contract, RQ jobs, rendering and the tunesmith CLI."""
