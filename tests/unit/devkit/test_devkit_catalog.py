"""infra/services.yaml as the local platform reads it (devkit.catalog): the Procfile of
`make run`, the ports and prefixes of the `regatta` command and the gateway, from one file."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from devkit import catalog
from devkit.gateway import load_upstreams

ROOT = Path(__file__).resolve().parents[3]


def test_the_procfile_runs_every_api_and_worker_the_file_declares_on_the_loopback() -> None:
    """GIVEN the file WHEN `regatta up` writes its Procfile THEN each service's API runs its
    declared command on 127.0.0.1 at its declared port, each worker its declared command, and
    the gateway runs beside them."""
    declared = yaml.safe_load(catalog.SERVICES_FILE.read_text())["services"]
    lines = catalog.procfile(catalog.local_ports({})).splitlines()
    processes = dict(line.split(": ", 1) for line in lines if not line.startswith("#"))
    for name, service in declared.items():
        api = [str(word) for word in service["api"]["command"]]
        api[api.index("--host") + 1] = "127.0.0.1"
        assert processes.pop(name) == " ".join(api)
        assert processes.pop(f"{name}-worker") == " ".join(service["worker"]["command"])
    assert processes == {"gateway": "uvicorn devkit.gateway:app --host 127.0.0.1 --port 8000 "
                                    "--no-access-log"}


def test_a_port_variable_moves_one_process_and_the_gateway_follows() -> None:
    """STOCK_INGEST_PORT moves the stock-ingest API; the gateway proxies to where it went."""
    env = {"STOCK_INGEST_PORT": "18003", "GATEWAY_PORT": "18000"}
    ports = catalog.local_ports(env)
    assert ports["stock-ingest"] == 18003 and ports["gateway"] == 18000
    assert ports["recipes"] == catalog.load_services()["recipes"].port
    assert "--port 18003" in catalog.procfile(ports).split("stock-ingest: ", 1)[1]
    upstreams = {u.name: u.url for u in load_upstreams(env)}
    assert upstreams["stock-ingest"] == "http://127.0.0.1:18003"


def test_no_module_restates_a_port_or_a_prefix_of_the_file() -> None:
    """The file is the one place a service's port and prefix are written: no module of the
    kit or the developer kit holds one as a literal (a planted one is found)."""
    literals = set()
    for service in catalog.load_services().values():
        literals |= {service.port, str(service.port), service.prefix}

    def restated(source: str) -> set[object]:
        return {node.value for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Constant) and node.value in literals}

    found = {f"{path.relative_to(ROOT)}: {sorted(map(str, hits))}"
             for top in ("shared", "devkit") for path in sorted((ROOT / top).rglob("*.py"))
             if (hits := restated(path.read_text()))}
    assert not found, found
    assert restated('PREFIXES = {"recipes": "/recipes"}\nPORT = 8001\n') == {"/recipes", 8001}
