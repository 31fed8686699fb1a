"""The command-line client of the native API (``/v1``): ``gateway push``, ``pull``, ``sync``.

``connection`` signs in and keeps the access token fresh, ``transfer`` moves one file each
way (parallel parts, resume), ``sync_state``/``sync_plan``/``sync_engine`` keep a folder and a
bucket prefix in step, and ``progress`` draws the bar.
"""
