"""Screens: help, confirmation, cleanup result and the per-target view."""
