import click


@click.command("demo")
def demo_command() -> None:
    """Start a complete demo office."""
    raise click.ClickException("not built yet")
