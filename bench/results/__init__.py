"""What is on disk and whether it can be trusted: store, run states, fingerprints, locks."""
