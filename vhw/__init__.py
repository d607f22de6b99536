# Virtual hardware: the fakes and the physics the tests and the simulator run the firmware on.
# Written in the subset of Python that MicroPython runs, so the same board runs on both
# runtimes. Never deployed to a device.
