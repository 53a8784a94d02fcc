"""Sources: what a team has, turned into the canonical raw tables (the synthetic world is one)."""
