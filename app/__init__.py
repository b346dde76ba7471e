"""The application layer: what Vanelia *does*, as plain functions every front end calls.

    front ends   cli/ (parses, prints)   server/ (HTTP jobs)   operators/ + panels/ (Blender)
        │
    app/         track · qc · place · render launch (blender) · stages · encode · contact sheet · run
        │
    ml/<stage>/  stages and engines (torch side)          addon/  Blender-side plain functions
        │
    shotcache/   the contract both sides import (stdlib + numpy)

Every function here takes its inputs as values (paths, options), reports progress through
callbacks (``log(str)``, ``on_frame(frame, done, total)``), and raises a
``shotcache.errors.UserError`` for anything the user can fix; nothing here parses
arguments, prints or exits. Input checks before expensive work: ``app.run.check_inputs``.
"""
