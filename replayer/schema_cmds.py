"""`replayer schema show|migrate|verify`: the on-disk schema and per-event validation status."""

from __future__ import annotations

import click

from replayer.app import cli, emit_json, pass_settings, warn
from store.migrate import migrate, plan
from store.paths import DOC_TYPES, DataPaths
from store.schema import SCHEMA_VERSION, SCHEMAS, on_disk_version
from store.settings import Settings
from store.validation import STATUSES


@cli.group()
def schema() -> None:
    """Show, verify and migrate the on-disk schema."""


@schema.command("show")
@click.option("--json", "as_json", is_flag=True)
@click.argument("doc_type", required=False, type=click.Choice(DOC_TYPES))
@pass_settings
def schema_show(settings: Settings, as_json: bool, doc_type: str | None) -> None:
    """The Arrow schema of each doc type and the schema versions.

    Example: replayer schema show game_tick
    """
    paths = DataPaths(settings.data_dir)
    types = [doc_type] if doc_type else list(DOC_TYPES)
    doc_types = {
        t: [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in SCHEMAS[t]]
        for t in types
    }
    out = {
        "schema_version": SCHEMA_VERSION,
        "on_disk_version": on_disk_version(paths),
        "doc_types": doc_types,
    }
    if as_json:
        emit_json(out)
        return
    click.echo(f"schema version {SCHEMA_VERSION} (on disk: {out['on_disk_version']})")
    for t, cols in doc_types.items():
        click.echo(f"\n{t}")
        for c in cols:
            null = "" if c["nullable"] else " not null"
            click.echo(f"  {c['name']:<18} {c['type']}{null}")


@schema.command("migrate")
@click.option("--dry-run", is_flag=True, help="Only say what would run.")
@pass_settings
def schema_migrate(settings: Settings, dry_run: bool) -> None:
    """Bring the data root to this code's schema version; refuses a newer one.

    Example: replayer schema migrate --dry-run
    """
    paths = DataPaths(settings.data_dir)
    if dry_run:
        steps = plan(paths)
        click.echo("nothing to do" if not steps else f"would run steps from {steps}")
        return
    done = migrate(paths)
    click.echo("\n".join(done) if done else f"schema is current (version {SCHEMA_VERSION})")


@schema.command("verify")
@click.argument("event")
@click.option("--status", type=click.Choice(STATUSES), required=True,
              help="verified, unverified or needs-correction.")
@click.option("--note", default="", help="What was checked, or what is wrong.")
@click.option("--by", default=None, help="Who verified (default: $RUGS_USER or the login).")
@click.option("--force", is_flag=True, help="Accept an event name the store has not seen.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored record as JSON.")
@pass_settings
def schema_verify(settings: Settings, event: str, status: str, note: str, by: str | None,
                  force: bool, as_json: bool) -> None:
    """Record the validation status of one event type (shown in the catalog and search).

    \b
    Examples:
      replayer schema verify playerUpdate --status verified --note "fields checked vs capture"
      replayer schema verify usernameStatus --status needs-correction \\
          --note "payload never captured: only the trace argument"
    """
    from store.catalog import catalog_from_store, describe_event
    from store.validation import set_validation

    paths = DataPaths(settings.data_dir)
    name = event
    if not force:
        # Typos would create statuses for events that do not exist: resolve against the
        # catalog (exact, else case-insensitive), with close names in the error.
        name = describe_event(catalog_from_store(paths, with_validation=False), event).event_name
    rec = set_validation(paths, name, status, note, by=by)
    if as_json:
        emit_json(rec.to_dict())
    else:
        click.echo(f"{rec.event_name}: {rec.status} by {rec.by} at {rec.at}"
                   + (f" ({rec.note})" if rec.note else ""))
        warn("run `replayer index build` to show the new status in search results")
