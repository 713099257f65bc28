"""The dashboard: a Textual app that renders Snapshots and sends intents up.

Widgets here only render what they are given; they never read ``/proc``, NVML
or HTTP. Colour comes from the theme's ``$level-*`` variables.
"""
