"""``ztc api``: serve the web edge, export its OpenAPI document, or write a demo keys file.

    ztc api [--host 127.0.0.1] [--port 8080]   serve intake, department API, dashboard, /metrics
    ztc api spec [FILE]                          OpenAPI JSON to FILE (default: stdout)
    ztc api keys FILE                            demo keys file (hashes); prints the plaintext keys once

The keys file is ``settings.api_keys_path`` (``ZTC_API_KEYS``, default
``<ZTC_DATA_DIR>/api-keys.toml``) and is re-read whenever it changes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas.settings import Settings
from schemas.status_links import STATUS_PREFIX
from ztc.errors import CliError

if TYPE_CHECKING:
    from consumers.access import KeyRing


def _app(settings: Settings, keys: KeyRing) -> Any:  # the web stack is imported only when served
    from ztc.bootstrap import policy_for
    from ztc.web_app import create_app

    return create_app(settings, policy_for(settings), keys)


def serve(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from ztc.bootstrap import configure_logging

    configure_logging()
    path = settings.api_keys_path
    if not path.exists():
        print(
            f"注意 note: no keys file at {path}; every API call is refused until it exists", file=sys.stderr
        )
    from consumers.access import KeyRing

    app = _app(settings, KeyRing(path))
    print(
        f"ZTC API on http://{host}:{port}  (docs /docs, dashboard /dashboard, metrics /metrics)", flush=True
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,  # the client address and https, behind a proxy
    )
    logging.getLogger("uvicorn.access").addFilter(redact_status_links)
    uvicorn.Server(config).run()
    return 0


def redact_status_links(record: logging.LogRecord) -> bool:
    """The access log keeps a status link's ticket id, never its signature (the link is a key)."""
    args = record.args
    if isinstance(args, tuple) and len(args) >= 3 and str(args[2]).startswith(STATUS_PREFIX):
        path = str(args[2])
        ticket = path[len(STATUS_PREFIX) :].split(".", 1)[0]
        rest = path.split("/")[3:] if path.count("/") > 2 else []
        redacted = STATUS_PREFIX + ticket + ".…" + "".join(f"/{part.split('?')[0]}" for part in rest)
        record.args = (*args[:2], redacted, *args[3:])
    return True


def spec(settings: Settings, target: Path | None) -> int:
    from consumers.access import KeyRing

    document = _app(settings, KeyRing(None)).openapi()
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if target is None:
        sys.stdout.write(text)
    else:
        target.write_text(text, encoding="utf-8")
        print(target)
    return 0


def demo_keys(settings: Settings, target: Path) -> int:
    from consumers.access import write_demo_keys
    from ztc.bootstrap import policy_for

    plain = write_demo_keys(target, policy_for(settings).department_codes)
    print(f"已写入 wrote {target} (hashes only). 明文密钥只显示这一次 / plaintext keys, shown once:")
    for name, key in plain.items():
        print(f"  {name:<28} {key}")
    return 0


def run_api(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    if args.action == "spec":
        return spec(settings, args.file)
    if args.action == "keys":
        if args.file is None:
            raise CliError(
                "ztc api keys 需要文件名 needs a FILE to write, e.g. `ztc api keys .ztc/api-keys.toml`"
            )
        return demo_keys(settings, args.file)
    host = args.host or args.settings.api_host
    port = args.port or args.settings.api_port
    return serve(settings, host, port)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["serve", "spec", "keys"], default="serve")
    parser.add_argument(
        "file", nargs="?", type=Path, help="spec: output JSON (default stdout); keys: keys file"
    )
    parser.add_argument("--host", help="监听地址 listen address (default 127.0.0.1, or $ZTC_API_HOST)")
    parser.add_argument("--port", type=int, help="端口 port (default 8080, or $ZTC_API_PORT)")


def add_api_parser(subparsers: Any) -> None:
    """Register ``ztc api`` on the CLI's subparsers."""
    help_text = "Web 接口与督办看板 web API + dashboard: [serve] | spec [FILE] | keys FILE"
    parser: argparse.ArgumentParser = subparsers.add_parser("api", help=help_text, description=help_text)
    _arguments(parser)
    parser.set_defaults(func=run_api)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ztc.api_cmd``: the same as ``ztc api`` (before it is registered in ``ztc.cli``)."""
    parser = argparse.ArgumentParser(prog="ztc api")
    _arguments(parser)
    args = parser.parse_args(argv)
    from ztc.bootstrap import settings_from_env

    args.settings = settings_from_env()
    return run_api(args)


if __name__ == "__main__":
    sys.exit(main())
