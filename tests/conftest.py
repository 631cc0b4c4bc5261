"""Test configuration: the platform kit's fixtures (emulator, provisioned stack, tokens)."""

pytest_plugins = ["shared.testing"]
