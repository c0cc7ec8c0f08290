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


def read_input(file: str | None, what: str) -> str:
    """The text of FILE, or of stdin for `-` or no FILE; HTML is reduced to its main text."""
    from ingest.document import IngestError
    from ingest.html import html_to_markdown
    from ingest.parse import decode, sniff_format

    if file in (None, "-"):
        if file is None and sys.stdin.isatty():
            raise UserError(f"give a FILE or pipe the {what} on stdin (`-`)")
        data = sys.stdin.buffer.read()
        where = "stdin"
    else:
        try:
            with open(file, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise UserError(f"{file}: {exc.strerror or exc}") from exc
        where = file
    try:
        text = decode(data)
    except IngestError as exc:
        raise UserError(f"{where}: {exc}") from exc
    if sniff_format(text) == "html":
        text, _ = html_to_markdown(text)
    return text


@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, metavar="[FILE|-]")
@click.option(
    "--set",
    "set_id",
    metavar="DOC_ID",
    help="Set a stored document's modes by hand to the MODE arguments (none: reject them all).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the same object as the API.")
@click.pass_context
def tag(ctx: click.Context, args: tuple[str, ...], set_id: str | None, as_json: bool) -> None:
    """Failure modes of a text with their evidence, without storing anything.

    \b
    hindsight tag postmortem.md
    echo "etcd filled up and the API went read-only" | hindsight tag -
    hindsight tag --set DOC_ID MODE...   (confirm tags by hand; others are rejected)
    """
    from service.search import QueryError

    app = _app(ctx)
    if set_id is not None:
        try:
            modes = app.set_modes(set_id, list(args))
        except KeyError:
            raise UserError(f"no document with id {set_id!r}") from None
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        if as_json:
            click.echo(json.dumps({"id": set_id, "modes": modes}))
        else:
            click.echo(f"{set_id}: {', '.join(modes) or 'no modes'} (set by hand)")
        return
    if len(args) > 1:
        raise UserError("give one FILE (or `-`); mode ids go with --set DOC_ID")
    text = read_input(args[0] if args else None, "text")
    try:
        report = app.tag(text).as_dict()
    except QueryError as exc:
        raise UserError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    if not report["modes"]:
        click.echo("no failure mode found", err=True)
    for mode in report["modes"]:
        click.secho(f"{mode['id']}", bold=True, nl=False)
        click.echo(f"  {mode['name']} ({mode['axis']}), confidence {mode['confidence']:.2f}")
        for ev in mode["evidence"]:
            click.echo(textwrap.indent(textwrap.fill(f"“{ev['text']}”", 96), "    "))


FAIL_LEVELS = ("high", "medium", "low")


@cli.command()
@click.argument("file", required=False, metavar="[FILE|-]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="markdown is ready to paste as a pull-request comment; json is the API's answer.",
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_LEVELS),
    help="Exit with 3 when a risk at this level or above is found (for CI gates).",
)
@click.option(
    "-k",
    "k",
    default=5,
    show_default=True,
    type=click.IntRange(1, 20),
    help="How many similar past incidents to show.",
)
@click.pass_context
def review(ctx: click.Context, file: str | None, fmt: str, fail_on: str | None, k: int) -> None:
    """Review a change plan: risks with precedents, runbooks, a checklist and the gaps."""
    from service.review import render_markdown, render_text
    from service.search import QueryError

    app = _app(ctx)
    plan = read_input(file, "plan")
    try:
        result = app.review(plan, k=k).as_dict()
    except QueryError as exc:
        raise UserError(str(exc)) from exc
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    elif fmt == "markdown":
        click.echo(render_markdown(result, base_url=app.config["base_url"]), nl=False)
    else:
        click.echo(render_text(result), nl=False)
    if fail_on is not None:
        at_or_above = FAIL_LEVELS[: FAIL_LEVELS.index(fail_on) + 1]
        found = [r["mode"] for r in result["risks"] if r["level"] in at_or_above]
        if found:
            click.echo(f"{len(found)} risk(s) at {fail_on} or above: {', '.join(found)}", err=True)
            ctx.exit(3)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the taxonomy as JSON.")
def modes(as_json: bool) -> None:
    """List the failure-mode taxonomy: ids by axis, with their definitions."""
    from service.hindsight import CORPUS
    from service.taxonomy import load_taxonomy

    taxonomy = [m for m in load_taxonomy(CORPUS / "taxonomy.yaml") if not m.retired]
    if as_json:
        fields = ("id", "axis", "name", "definition")
        click.echo(json.dumps([{f: getattr(m, f) for f in fields} for m in taxonomy], indent=2))
        return
    for mode in taxonomy:
        click.secho(f"{mode.id:24}", bold=True, nl=False)
        click.echo(f" {mode.axis:10} {mode.name}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def retag(ctx: click.Context, as_json: bool) -> None:
    """Re-tag every stored document with the current tagger (human tags are kept)."""
    tick, close = _progress("retag")
    try:
        counts = _app(ctx).retag(progress=tick)
    finally:
        close()
    if as_json:
        click.echo(json.dumps(counts))
    else:
        click.echo(f"{counts['changed']} documents re-tagged, {counts['unchanged']} unchanged")


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


@cli.group()
def token() -> None:
    """Bearer tokens for the API's write endpoints (stored hashed)."""


@token.command("create")
@click.argument("name")
@click.pass_context
def token_create(ctx: click.Context, name: str) -> None:
    """Create a token called NAME and print it once; only its hash is stored."""
    from service.tokens import TokenError, create_token

    app = _app(ctx)
    app.upgrade()
    try:
        value = create_token(app.engine, name)
    except TokenError as exc:
        raise UserError(str(exc)) from exc
    click.echo(value)
    click.echo(f"token {name!r} created; it is shown only this once", err=True)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as JSON.")
@click.pass_context
def token_list(ctx: click.Context, as_json: bool) -> None:
    """List tokens by name with when they were created and revoked (never their values)."""
    from service.tokens import list_tokens

    app = _app(ctx)
    app.upgrade()
    found = [t.as_dict() for t in list_tokens(app.engine)]
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for t in found:
        state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "active"
        click.echo(f"{t['name']}  created {t['created_at']}  {state}")


@token.command("revoke")
@click.argument("name")
@click.pass_context
def token_revoke(ctx: click.Context, name: str) -> None:
    """Revoke the token called NAME; requests using it are refused from now on."""
    from service.tokens import revoke_token

    app = _app(ctx)
    app.upgrade()
    if not revoke_token(app.engine, name):
        raise UserError(f"no active token named {name!r} (see `hindsight token list`)")
    click.echo(f"token {name!r} revoked")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--debug", is_flag=True, help="Reload on code changes and show tracebacks.")
def serve(host: str, port: int, debug: bool) -> None:
    """Development server (Flask's); production is `gunicorn -c gunicorn.conf.py`."""
    from service.app import create_app

    try:
        app = create_app()
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    app.run(host=host, port=port, debug=debug, use_reloader=debug)


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
