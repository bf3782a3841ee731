"""The CLI starts quickly because it imports little: checked by what is imported, never by timing.

``ztc --help`` imports no third-party package at all; ``ztc ticket show`` no Kafka, Faust,
numpy, FastAPI or routing model; the command table agrees with the modules and the registry.
(How long they take is measured by ``make bench`` — stage ``startup`` — not here.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from deploy import probe
from schemas.actions import ACTIONS
from ztc import cli
from ztc.command_index import ACTION_HELP, COMMANDS

HEAVY = ("pydantic", "redis", "kafka", "faust", "numpy", "fastapi", "openpyxl", "tyme4py")


def imported_after(code: str) -> set[str]:
    """Top-level packages a fresh interpreter has imported after running ``code``."""
    listing = "import json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    script = f"import sys\n{code}\n{listing}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_help_imports_no_third_party_package() -> None:
    loaded = imported_after(
        "from ztc.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_the_ticket_views_parse_without_kafka_numpy_or_the_web_stack() -> None:
    loaded = imported_after(
        "from ztc.cli import build_parser\n"
        "args = build_parser('ticket').parse_args(['ticket', 'show', 'ZTC-1'])\n"
        "import ztc.views_cmd, ztc.render, consumers.ticket_reader, ztc.bootstrap\n"
        "from ztc.bootstrap import settings_from_env; settings_from_env()"
    )
    assert not loaded & {"kafka", "faust", "numpy", "fastapi", "streams", "producers", "sklearn"}, loaded


def test_the_command_table_agrees_with_the_parsers_and_the_registry() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(COMMANDS)  # the same commands, in the table's order
    helps = {action.dest: action.help for action in sub._choices_actions}
    assert helps == {name: help_text for name, (help_text, _) in COMMANDS.items()}
    assert {spec.verb: spec.help for spec in ACTIONS} == ACTION_HELP
    assert (cli.BROKER, cli.REDIS) == (probe.BROKER, probe.REDIS)


def test_a_single_commands_parser_lists_every_command_but_reads_only_its_own() -> None:
    parser = cli.build_parser("ticket")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(COMMANDS)
    assert parser.parse_args(["ticket", "show", "ztc-1", "--json"]).json is True
