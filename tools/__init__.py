"""Build tooling beside the ZTC packages: never installed, never imported by them (tests check both)."""
