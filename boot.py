# Runs first at every reset. The output must be off before anything else happens: OUT_EN and
# both H-bridge legs low (OUT_EN also has a hardware pull-down). Nothing slow here.
import machine

from firmware.boards import load as _load

_b = _load()
for _name in ("OUT_EN", "POL_A", "POL_B", "BOOST_EN"):
    machine.Pin(_b.PINS[_name], machine.Pin.OUT, value=0)
del _b, _name, _load
