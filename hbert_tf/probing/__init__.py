"""Probing: SentEval task files, feature extraction, probe classifiers, the run, the report."""
