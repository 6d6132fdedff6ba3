"""jaxfer's version: the one place it is written (setup.cfg reads it from here)."""

VERSION = '0.1.0'
