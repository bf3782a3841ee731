"""``make bench`` (``python -m bench``): every pipeline stage against a bare baseline in the same run."""
