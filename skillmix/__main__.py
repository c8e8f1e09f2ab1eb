from skillmix.cli import app

app(prog_name="skillmix")
