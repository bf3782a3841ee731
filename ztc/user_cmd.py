"""``ztc user``: personal accounts for the web pages — add, disable, enable, passwd, list.

    ztc user add NAME --role clerk --department approval [--name 王科长] [--password-stdin]
    ztc user disable NAME          every session of NAME ends at once
    ztc user enable NAME
    ztc user passwd NAME [--password-stdin]
    ztc user list [--json]

A password is typed at a prompt (twice) or read as one line from stdin with
``--password-stdin``; never from the command line, where ``ps`` and the shell's
history would keep it. Accounts live in Redis under ``ZTC_REDIS_PREFIX``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from consumers.account_store import RedisAccountStore
from consumers.accounts import AccountError, Passwords, add_account, set_disabled, set_password
from schemas.accounts import Role
from schemas.events import now_in_district
from schemas.settings import Settings
from ztc import render
from ztc.bootstrap import policy_for, redis_client
from ztc.commands import CliError, print_json

ACTIONS = ("add", "disable", "enable", "passwd", "list")


def read_password(from_stdin: bool) -> str:
    """One line of stdin, or a hidden prompt typed twice."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise CliError("--password-stdin: 标准输入为空 nothing on stdin")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError(
            "没有终端可输入密码，请用 --password-stdin / "
            "no terminal to prompt for the password: use --password-stdin"
        )
    first = getpass.getpass("新密码 new password: ")
    if getpass.getpass("再输入一次 again: ") != first:
        raise CliError("两次输入的密码不一致 / the passwords differ")
    return first


def _row(account: Any, policy: Any) -> str:
    where = render.dept_name(account.department, policy) if account.department else "—"
    state = "已停用 disabled" if account.disabled else "正常 active"
    return f"  {account.username:<20} {account.display_name:<14} {account.role.value:<11} {where:<14} {state}"


def user(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    store = RedisAccountStore(redis_client(settings), settings.redis_prefix)
    now = now_in_district()
    if args.action != "list" and not args.name:
        raise CliError(f"ztc user {args.action} NAME: 需要用户名 NAME is required")
    try:
        if args.action == "add":
            if not args.role:
                raise CliError("ztc user add NAME --role ROLE: 需要 --role / --role is required")
            policy = policy_for(settings)
            fields = {"username": args.name, "display_name": args.display_name}
            fields |= {"role": args.role, "department": args.department}
            password = read_password(args.password_stdin)
            account = add_account(store, Passwords(), fields, password, now, policy.department_codes)
            print(f"已开设 added {account.username} ({account.role.label})")
        elif args.action in ("disable", "enable"):
            account = set_disabled(store, args.name, args.action == "disable", now)
            print(f"{'已停用 disabled' if account.disabled else '已启用 enabled'} {account.username}")
        elif args.action == "passwd":
            account = set_password(store, Passwords(), args.name, read_password(args.password_stdin), now)
            print(f"已更新密码 password changed for {account.username}; its sessions have ended")
        else:
            return _list(store, settings, args.json)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    return 0


def _list(store: RedisAccountStore, settings: Settings, as_json: bool) -> int:
    accounts = store.accounts()
    if as_json:
        print_json([a.model_dump(mode="json", exclude={"password_hash"}) for a in accounts])
        return 0
    policy = policy_for(settings)
    print(f"账号 accounts: {len(accounts)}")
    for account in accounts:
        print(_row(account, policy))
    return 0


def add_user_parser(subparsers: Any) -> None:
    help_text = "账号 personal accounts for the web: add | disable | enable | passwd | list"
    parser: argparse.ArgumentParser = subparsers.add_parser("user", help=help_text, description=help_text)
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("name", nargs="?", metavar="NAME", help="用户名 username (a-z 0-9 . _ -)")
    roles = ", ".join(f"{r.value} {r.label.split()[0]}" for r in Role)
    parser.add_argument("--role", choices=[r.value for r in Role], help=f"角色 role (add): {roles}")
    parser.add_argument("--department", help="部门代码 department code, for clerk and head (add)")
    parser.add_argument("--name", dest="display_name", help="显示的姓名 name shown (add; default NAME)")
    parser.add_argument(
        "--password-stdin", action="store_true", help="从标准输入读一行密码 read the password from stdin"
    )
    parser.add_argument("--json", action="store_true", help="list: JSON output")
    parser.set_defaults(func=user)
