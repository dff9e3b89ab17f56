"""Control with learned models (issue 13): tasks, methods, system episodes, searches, MPC.

Plain Python taking plain arguments; ``trajmbrl.modes.control`` maps the config onto it.
"""
