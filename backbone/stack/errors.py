"""The one error the local stack raises: a message that says what is wrong and what to do."""


class StackError(RuntimeError):
    """The local stack could not be installed, started or stopped; ``str()`` says why."""


NO_STACK_HINT = (
    "Or skip the local stack: point KAFKA_BOOTSTRAP_SERVERS and SCHEMA_REGISTRY_URL at an "
    "existing cluster, or run `docker compose -f deploy/compose.yaml up -d` where Docker exists."
)
