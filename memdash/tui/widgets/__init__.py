"""Dashboard widgets; each renders samples it is handed and nothing else."""
