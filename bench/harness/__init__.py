"""The benchmark suite's parts; `bench/suite.py` puts them together."""
