"""The study: the paper's whole experiment as one command."""
