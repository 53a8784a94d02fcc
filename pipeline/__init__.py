"""One module per DVC stage: thin typed commands over pure functions."""
