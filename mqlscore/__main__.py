from mqlscore.cli import app

app(prog_name="mqlscore")
