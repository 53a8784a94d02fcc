"""Reporting: Markdown, the HTML page, charts, review tables and outcome tracking."""
