"""``backbone acls plan | apply``: least-privilege ACLs per component, from the topic catalog."""

from __future__ import annotations

import sys

import typer

from backbone import acls
from backbone.acl_admin import AclError, apply
from backbone.cli.context import kafka
from backbone.cli.exits import PARTIAL, fail
from backbone.kafka import admin_client

app = typer.Typer(help="Least-privilege ACLs per component principal, derived from the catalog.",
                  no_args_is_help=True)

TOPIC_PREFIX = typer.Option(
    "", "--topic-prefix",
    help="Grant on <prefix>.<catalog name> topics (a side-by-side deployment, as "
         "BACKBONE_PROCESSOR_TOPIC_PREFIX).")


def _plan(topic_prefix: str) -> list[acls.Binding]:
    from backbone.settings import load_settings

    try:
        return acls.plan(topic_prefix=topic_prefix,
                         group_prefix=load_settings().processor_consumer_group_prefix)
    except ValueError as error:
        fail(str(error))


@app.command()
def plan(
    json_output: bool = typer.Option(False, "--json", help="One JSON object per binding."),
    topic_prefix: str = TOPIC_PREFIX,
) -> None:
    """Print the bindings (principal, resource, pattern, name, operation), sorted and stable."""
    bindings = _plan(topic_prefix)
    if json_output:
        for binding in bindings:
            print(binding.to_json())
        return
    sys.stdout.write(acls.table(bindings))
    print(f"User:{acls.ADMIN} is a super user (super.users) and needs no ACLs.", file=sys.stderr)


@app.command("apply")
def apply_command(
    prune: bool = typer.Option(
        False, "--prune",
        help="Also delete ALLOW bindings of backbone's principals that the plan no longer "
             "implies (other principals' ACLs are never touched)."),
    topic_prefix: str = TOPIC_PREFIX,
) -> None:
    """Create the plan's missing bindings through the Admin API (idempotent) and say what
    changed; run it as the admin (exit 1 if some binding failed, 2 if none could be applied)."""
    bindings = _plan(topic_prefix)
    admin = admin_client(kafka())
    try:
        changes = apply(admin, bindings, prune=prune)
    except AclError as error:
        fail(f"could not read the cluster's ACLs: {error}")
    failed = [change for change in changes if change.action == "failed"]
    if failed and len(failed) == len(changes):
        reasons = sorted({change.detail for change in failed})
        fail(f"no ACL could be applied ({len(failed)} refused): {'; '.join(reasons)}")
    for change in changes:
        if change.action != "unchanged":
            print(f"{change.action:<9} {change.binding.row()}  {change.detail}".rstrip())
    counts = {action: sum(c.action == action for c in changes)
              for action in ("created", "deleted", "unchanged", "failed")}
    print(", ".join(f"{n} {action}" for action, n in counts.items()), file=sys.stderr)
    if failed:
        raise typer.Exit(PARTIAL)
