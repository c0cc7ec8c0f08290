"""The `hindsight` command line: each command parses, calls one service function, formats."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import click

from ingest.document import KINDS
from service.config import Config
from service.hindsight import Hindsight


class UserError(click.ClickException):
    """Bad input: exit code 2 with a one-line message."""

    exit_code = 2


def _app(ctx: click.Context) -> Hindsight:
    obj = ctx.find_object(Hindsight)
    if obj is None:  # pragma: no cover - the group always sets it
        raise click.UsageError("internal: no service object")
    return obj


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hindsight-kb")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Hindsight: a knowledge service for production incidents.

    Settings come from HINDSIGHT_* environment variables (see the README).
    """
    try:
        ctx.obj = Hindsight(Config.load())
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def _progress(total_hint: str) -> tuple[Callable[[str], None] | None, Callable[[], None]]:
    """A progress bar on a terminal (stderr), nothing otherwise."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(desc=total_hint, unit="doc", file=sys.stderr, leave=False)

    def tick(source: str) -> None:
        bar.update(1)

    return tick, bar.close


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"added {report['added']}, updated {report['updated']}, "
        f"unchanged {report['unchanged']}, failed {len(report['failed'])}"
        + (f", skipped {len(report['skipped'])}" if report.get("skipped") else "")
    )
    for failure in report["failed"]:
        click.echo(f"  failed: {failure['source']}: {failure['error']}", err=True)
    for skipped in report.get("skipped", []):
        click.echo(f"  skipped: {skipped['source']}: {skipped['reason']}", err=True)


@cli.command()
@click.option("--bare", is_flag=True, help="Load the taxonomy only, not the bundled corpus.")
@click.option("--json", "as_json", is_flag=True, help="Print the load report as JSON.")
@click.pass_context
def init(ctx: click.Context, bare: bool, as_json: bool) -> None:
    """Create the data dir and database and load the bundled corpus (idempotent)."""
    tick, done = _progress("corpus")
    try:
        report = _app(ctx).init(bare=bare, progress=tick).as_dict()
    finally:
        done()
    _print_report(report, as_json)
    if report["failed"]:
        ctx.exit(1)


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--kind", type=click.Choice(KINDS), help="Kind of the documents (default: detect).")
@click.option(
    "--list",
    "link_list",
    is_flag=True,
    help="Read each source as a Markdown link list: one entry per linked incident.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print {added, updated, unchanged, failed} as JSON."
)
@click.pass_context
def ingest(
    ctx: click.Context,
    sources: tuple[str, ...],
    kind: str | None,
    link_list: bool,
    as_json: bool,
) -> None:
    """Ingest postmortems, runbooks or checklists from files, directories, URLs or - (stdin).

    Exit code 1 when any source failed; the rest of the batch is stored.
    """
    app = _app(ctx)
    tick, done = _progress("ingest")
    try:
        report = app.ingest(list(sources), kind=kind, link_list=link_list, progress=tick).as_dict()
    finally:
        done()
    _print_report(report, as_json)
    if report["failed"]:
        ctx.exit(1)


@cli.command()
@click.argument("doc_id")
@click.option("--json", "as_json", is_flag=True, help="Print the document as JSON.")
@click.pass_context
def show(ctx: click.Context, doc_id: str, as_json: bool) -> None:
    """Show one document: metadata, sections, and failure modes with evidence."""
    doc = _app(ctx).document(doc_id)
    if doc is None:
        raise UserError(f"no document with id {doc_id!r}")
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    click.secho(doc["title"], bold=True)
    facts = [f"id: {doc['id']}", f"kind: {doc['kind']}"]
    facts += [f"{k}: {doc[k]}" for k in ("org", "date", "url") if doc.get(k)]
    click.echo("  ".join(facts))
    for key, value in doc["meta"].items():
        click.echo(f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}")
    if doc["modes"]:
        click.echo("")
        click.secho("Failure modes", bold=True)
        for mode in doc["modes"]:
            click.echo(f"  {mode['id']} ({mode['origin']}, {mode['confidence']:.2f})")
            for ev in mode["evidence"]:
                if ev.get("text"):
                    click.echo(textwrap.indent(textwrap.fill(f"“{ev['text']}”", 96), "      "))
    for section in doc["sections"]:
        click.echo("")
        click.secho(f"{section['heading']}  [{section['kind']}]", bold=True)
        click.echo(section["text"])


@cli.command()
@click.argument("query")
@click.option(
    "-k",
    "k",
    default=10,
    show_default=True,
    type=click.IntRange(1, 100),
    help="How many documents to return.",
)
@click.option(
    "--mode",
    "modes",
    multiple=True,
    help="Only documents with this failure mode (repeat for several; all must match).",
)
@click.option("--org", help="Only documents from this organisation.")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind of document.")
@click.option("--since", type=int, help="Only incidents from this year on.")
@click.option("--until", type=int, help="Only incidents up to this year.")
@click.option("--json", "as_json", is_flag=True, help="Print the same object as the API.")
@click.pass_context
def search(
    ctx: click.Context,
    query: str,
    k: int,
    modes: tuple[str, ...],
    org: str | None,
    kind: str | None,
    since: int | None,
    until: int | None,
    as_json: bool,
) -> None:
    """Hybrid (semantic + keyword) search over the stored documents."""
    from service.search import Filters, QueryError

    try:
        result = (
            _app(ctx)
            .search(query, k=k, filters=Filters(tuple(modes), org, kind, since, until))
            .as_dict()
        )
    except QueryError as exc:
        raise UserError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    if result.get("hint"):
        click.echo(result["hint"], err=True)
    for n, hit in enumerate(result["results"], 1):
        facts = " · ".join(str(x) for x in (hit["org"], hit["date"], hit["kind"]) if x)
        click.secho(f"{n}. {hit['title']}", bold=True, nl=False)
        click.echo(f"  [{hit['id']}]  {facts}  score {hit['score']:.2f}")
        click.echo("   " + _highlight(hit["snippet"], hit["highlights"]))
        if hit["modes"]:
            click.echo("   modes: " + ", ".join(m["id"] for m in hit["modes"]))
    click.echo(f"{len(result['results'])} results in {result['took_ms']:.0f} ms", err=True)


def _highlight(snippet: str, spans: list[list[int]]) -> str:
    out, last = [], 0
    for start, end in spans:
        out.append(snippet[last:start])
        out.append(click.style(snippet[start:end], bold=True, underline=True))
        last = end
    out.append(snippet[last:])
    return "".join(out)


@cli.group()
def index() -> None:
    """The vector and keyword indexes (derived from the store)."""


@index.command("rebuild")
@click.pass_context
def index_rebuild(ctx: click.Context) -> None:
    """Rebuild both indexes from the stored embeddings and text; nothing is re-embedded."""
    app = _app(ctx)
    app.index.rebuild()
    meta = app.index.metadata()
    click.echo(f"indexed {meta['chunks']} chunks at store revision {meta['revision']}")


@cli.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply the migrations up to the newest schema."""
    _app(ctx).upgrade()
    click.echo("database is at the newest schema")


@cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, allow_dash=True))
@click.pass_context
def export_cmd(ctx: click.Context, file: str) -> None:
    """Export the whole store (modes, documents, chunks, embeddings, tags) as JSONL."""
    from service.documents import write_export

    with click.open_file(file, "w", encoding="utf-8") as handle:
        count = write_export(_app(ctx).engine, handle)
    click.echo(f"exported {count} documents", err=file == "-")


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.pass_context
def import_cmd(ctx: click.Context, file: str) -> None:
    """Import a JSONL export; embeddings are kept, nothing is re-embedded."""
    from service.documents import read_import

    app = _app(ctx)
    with click.open_file(file, "r", encoding="utf-8") as handle:
        try:
            count = read_import(app.library, handle)
        except ValueError as exc:
            raise UserError(f"{file}: {exc}") from exc
    click.echo(f"imported {count} documents")


def main() -> None:
    """Console entry point: runtime failures exit 1 with one line on stderr."""
    try:
        code = cli.main(standalone_mode=False)
        # click returns ctx.exit()'s code instead of raising when not standalone
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a runtime failure: one line, no traceback
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
