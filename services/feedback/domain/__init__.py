"""The feedback domain: trips, surveys, scores and cases. Pure Python, no I/O."""
