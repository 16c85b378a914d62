"""The environment `sam local invoke` gives each function's container.

SAM CLI's own code does it, short of Docker: the template read as its
`sam local invoke` reads it (the SAM transform's globals merged, intrinsics
resolved with the parameter overrides), then an `--env-vars` file applied to
what each function declares, and its own `AWS_*` variables, with the
credentials of the shell's session. The local runtime's tests compare it
with the environment of their own invoke.

Usage: python tests/iac/sam_local_env.py TEMPLATE ENV_VARS.json [KEY=VALUE ...]
prints {"LogicalId": {"NAME": "value", ...}, ...}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider


def main(template: str, env_vars_file: str, overrides: list[str]) -> None:
    parameters = dict(override.split("=", 1) for override in overrides)
    stacks, _ = SamLocalStackProvider.get_stacks(template, parameter_overrides=parameters)
    functions = SamFunctionProvider(stacks)
    env_vars = json.loads(Path(env_vars_file).read_text(encoding="utf-8"))
    # The runner's own way to pick a function's entry in the file; it needs
    # no container to do so.
    runner = LocalLambdaRunner.__new__(LocalLambdaRunner)
    runner.env_vars_values = env_vars
    runner.aws_profile = None
    runner.aws_region = None
    runner._boto3_session_creds = None
    runner._boto3_region = None
    runner.debug_context = None
    environments = {function.name: runner._make_env_vars(function).resolve() for function in functions.get_all()}
    json.dump(environments, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
