"""A deployed stack's outputs, and its operators (needs AWS credentials).

    make outputs ENV=dev                                   the stack's outputs
    make operator ENV=dev EMAIL=alice@example.org GROUP=admins

`operator` creates the user in the stack's user pool (output `UserPoolId`)
with Cognito's AdminCreateUser: Cognito mails a temporary password, to
replace at the first sign-in. Then AdminAddUserToGroup puts them in
`admins` (enrol, correct, erase, audit, and read) or `viewers` (read only).
For a user who exists already, only the group is added. The stack name and
region are samconfig.toml's for the environment.

The caller needs cloudformation:DescribeStacks on the stack and
cognito-idp:AdminCreateUser and cognito-idp:AdminAddUserToGroup on the pool.
"""

from __future__ import annotations

import argparse
import re
import sys

from account import samconfig

GROUPS = ("admins", "viewers")
# What Cognito takes as an e-mail username here (the pool's usernames are
# e-mail addresses): something@domain.tld, no spaces.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def stack_outputs(session, stack_name: str) -> dict[str, str]:
    stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def add_operator(session, pool_id: str, email: str, group: str) -> str:
    cognito = session.client("cognito-idp")
    try:
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            DesiredDeliveryMediums=["EMAIL"],
        )
        created = "created; Cognito mails a temporary password"
    except cognito.exceptions.UsernameExistsException:
        created = "exists already"
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)
    return f"{email} {created}; in group {group}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="operators.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    outputs = commands.add_parser("outputs", help="print the stack's outputs")
    add = commands.add_parser("add", help="create an operator and put them in a group")
    for command in (outputs, add):
        command.add_argument("--config-env", required=True, choices=["dev", "prod"])
        command.add_argument("--region", help="instead of samconfig.toml's")
    add.add_argument("--email", required=True)
    add.add_argument("--group", required=True)
    args = parser.parse_args(argv)

    if args.command == "add":
        if not EMAIL.match(args.email):
            parser.error(f"EMAIL={args.email!r} is not an e-mail address")
        if args.group not in GROUPS:
            parser.error(f"GROUP={args.group!r}: admins (enrol and read) or viewers (read only)")

    import boto3  # Only once the arguments are known good.
    from botocore.exceptions import BotoCoreError, ClientError

    stack_name, region, _ = samconfig(args.config_env)
    session = boto3.session.Session(region_name=args.region or region)
    try:
        found = stack_outputs(session, stack_name)
        if args.command == "outputs":
            for key in sorted(found):
                print(f"{key}\t{found[key]}")
            return 0
        print(add_operator(session, found["UserPoolId"], args.email.lower(), args.group))
        return 0
    except (BotoCoreError, ClientError) as error:
        print(f"{stack_name} in {session.region_name}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
