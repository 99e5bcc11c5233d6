import click


@click.group("cis")
def cis_group() -> None:
    """The CIS link: account imports and deliveries."""
