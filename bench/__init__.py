"""shmcp's benchmark harness (issue 5): `make bench`, or `python -m bench --help`."""
