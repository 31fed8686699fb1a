"""Adapters: implementations of the ports in ``gateway.ports``, chosen by configuration."""
