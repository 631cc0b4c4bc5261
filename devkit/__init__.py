"""Regatta's developer kit: the local platform and the tools around it, never in an image.

The service images hold ``shared`` (the runtime kit) and ``services``; everything here runs
on a developer's machine, in the tests, in the benchmarks, or in the local-only containers
(compose's emulator and provisioner). It may import ``shared`` and the services; neither of
them imports it (tests/unit/shared/test_shared_dependencies.py).

Modules, each importable on its own:

- ``catalog``    infra/services.yaml as the local platform reads it: ports, prefixes, Procfile
- ``cli``        the ``regatta`` command (``make run`` calls ``regatta up``)
- ``emulator``   the moto server process behind the local stack and the tests
- ``provision``  converge ``infra/topology.yaml`` on the emulator (Terraform's job in AWS)
- ``cognito``    the emulator's user pool, app clients and demo users
- ``gateway``    one local origin for the web app and every API (CloudFront + ALB in AWS)
- ``redrive``    dead-letter queues: look, and move messages back (``regatta dlq/redrive``)
- ``access``     every service's access table together (the README's, the hostile suite's)
- ``testing``    pytest fixtures other test suites reuse
- ``fuzzing``    schemathesis over a service's OpenAPI
- ``browser``    the web app in headless Chromium (the browser tests, the page benchmarks)
"""
