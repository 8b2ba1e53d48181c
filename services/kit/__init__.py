"""Itinera's shared kit: wire contracts and the runtime every service is built from.

The kit imports no service. Services import the kit and never each other.
"""
