"""Where the live picture goes besides the window, one record each (base.py: the interface).

Adding an output is its file (an `Output`, its flags, its `KIND`) and one row here.
"""
from realtime.live.outputs import pipe, recording, virtual_camera, web_view
from realtime.live.outputs.base import OutputKind

OUTPUTS: tuple[OutputKind, ...] = (
    web_view.KIND,
    recording.KIND,
    virtual_camera.KIND,
    pipe.KIND,
)
OUTPUT_ERRORS: tuple[type[Exception], ...] = tuple(e for k in OUTPUTS for e in k.errors)
