"""mqlscore: lead and account scoring learned from what sales converts."""

__version__ = "0.1.0"
