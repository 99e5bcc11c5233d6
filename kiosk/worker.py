import click


@click.command("worker")
def worker_command() -> None:
    """Deliver the outbox."""
    raise click.ClickException("not built yet")
