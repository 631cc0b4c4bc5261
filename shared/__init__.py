"""Regatta platform kit: what every service needs to live on SNS/SQS, DynamoDB, S3 and Cognito.

The runtime layer: every service image holds it. It imports no service and nothing of
``devkit`` (the local platform, the tests' fixtures), so an image starts without either.

Modules, each importable on its own:

- ``settings``     pydantic-settings base class shared by every service
- ``logging``      structlog configuration and context binding
- ``errors``       the exception hierarchy (drawn in its docstring)
- ``aws``          aiobotocore clients with one lifecycle, API call counting
- ``dynamo``       Python <-> DynamoDB attribute values, cursors
- ``events``       CloudEvents 1.0 envelope and the SNS publisher
- ``worker``       the SQS consumer that implements the worker contract
- ``batch``        the same consumer calling its handler once per received batch
- ``idempotency``  DynamoDB-backed exactly-once effects for consumers
- ``auth``         Cognito JWT verification and FastAPI user dependencies
- ``http``         FastAPI app factory: health, problem+json, request logs
- ``topology``     ``infra/topology.yaml``: its schema and the resources' physical names
- ``cognito``      machine clients' OAuth 2.0 client credentials
- ``access``       the vocabulary of the services' access tables
"""
