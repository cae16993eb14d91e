"""`yuqing users add|passwd|disable|enable|list`: the console's accounts, from the terminal of the server."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from yuqing.cli.common import print_json, settings_from

if TYPE_CHECKING:
    from console.accounts import AccountStore

ROLES = ("officer", "analyst", "leader", "admin")
CLI_ACTOR = "命令行"  # who the account log names for changes made here


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("users", help="console accounts and their roles",
                            description="控制台账户: add, list, disable accounts and set passwords. Roles: officer "
                                        "(宣传干部), analyst (分析员), leader (领导, read-only), admin (管理员).")
    commands = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)

    add = commands.add_parser("add", help="add an account (password from standard input, or asked for)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.set_defaults(func=run_add)

    passwd = commands.add_parser("passwd", help="set an account's password (its sessions end)")
    passwd.add_argument("name")
    passwd.set_defaults(func=run_passwd)

    disable = commands.add_parser("disable", help="disable an account (its sessions end)")
    disable.add_argument("name")
    disable.set_defaults(func=run_disable)

    enable = commands.add_parser("enable", help="enable a disabled account")
    enable.add_argument("name")
    enable.set_defaults(func=run_enable)

    listing = commands.add_parser("list", help="every account with its role")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=run_list)


def read_password() -> str:
    """From standard input when it is not a terminal (`echo ... | yuqing users add`), else asked twice."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("密码 password: ")
    if getpass.getpass("再输入一次 again: ") != first:
        raise _Refused("两次输入的密码不一致 (passwords differ)")
    return first


class _Refused(Exception):
    pass


def _with_accounts(action: Callable[[argparse.Namespace, AccountStore], int]) -> Callable[[argparse.Namespace], int]:
    """Open the account store for the command; account errors are one line and exit code 2."""

    def run(args: argparse.Namespace) -> int:
        from console.accounts import AccountError, open_accounts

        settings = settings_from(args)
        try:
            accounts = open_accounts(settings)
        except AccountError as exc:
            print(exc, file=sys.stderr)
            return 2
        try:
            return action(args, accounts)
        except (AccountError, _Refused) as exc:
            print(exc, file=sys.stderr)
            return 2
        finally:
            accounts.close()

    return run


@_with_accounts
def run_add(args: argparse.Namespace, accounts: AccountStore) -> int:
    from console.accounts import Role

    user = accounts.add(args.name, Role(args.role), read_password(), actor=CLI_ACTOR)
    print(f"已添加 added: {user.name} ({user.role_name})")
    return 0


@_with_accounts
def run_passwd(args: argparse.Namespace, accounts: AccountStore) -> int:
    accounts.set_password(args.name, read_password(), actor=CLI_ACTOR)
    print(f"已设置密码 password set: {args.name}")
    return 0


@_with_accounts
def run_disable(args: argparse.Namespace, accounts: AccountStore) -> int:
    accounts.set_disabled(args.name, True, actor=CLI_ACTOR)
    print(f"已停用 disabled: {args.name}")
    return 0


@_with_accounts
def run_enable(args: argparse.Namespace, accounts: AccountStore) -> int:
    accounts.set_disabled(args.name, False, actor=CLI_ACTOR)
    print(f"已启用 enabled: {args.name}")
    return 0


@_with_accounts
def run_list(args: argparse.Namespace, accounts: AccountStore) -> int:
    users = accounts.users()
    if args.json:
        print_json([{"name": u.name, "role": u.role.value, "disabled": u.disabled,
                     "created_at": u.created_at.isoformat()} for u in users])
        return 0
    if not users:
        print("没有账户 (no accounts): yuqing users add NAME --role admin")
    for user in users:
        print(f"{user.name}\t{user.role_name} ({user.role.value}){'  已停用 disabled' if user.disabled else ''}")
    return 0
