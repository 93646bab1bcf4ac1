"""Test support: stand-in servers and helpers shared by the edge server's tests."""
